"""Masking personal data in what leaves the service: texts, payloads and log lines."""

import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from handoff.core import logging_setup
from handoff.shared.masking import (
    CARD,
    EMAIL,
    PHONE,
    SHOP_ADDRESSES,
    MaskingFilter,
    iban_valid,
    luhn_valid,
    mask_payload,
    mask_text,
)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # e-mail addresses
        ("my email is ada@example.com, where is 55556?", "my email is a***@example.com, where is 55556?"),
        ("Send it to Dev.Patel+shop@mail.example.co.uk", "Send it to D***@mail.example.co.uk"),
        # card numbers that pass Luhn, however they are typed
        ("I paid with 4111 1111 1111 1111 exp 09/27", "I paid with [card ••••1111] exp 09/27"),
        ("card no 5500-0000-0000-0004 was charged twice", "card no [card ••••0004] was charged twice"),
        ("it's 4012888888881881", "it's [card ••••1881]"),
        ("amex 3782 822463 10005 please", "amex [card ••••0005] please"),
        # IBANs that pass mod-97
        ("refund to GB82 WEST 1234 5698 7654 32 please", "refund to [IBAN ••••5432] please"),
        ("iban: de89370400440532013000", "iban: [IBAN ••••3000]"),
        # phone numbers: valid ones (phonenumbers), and fictional / unknown ranges (the fallback)
        ("call me on 07911 123456 after lunch", "call me on ••••56 after lunch"),
        ("my landline is 020 7946 0018", "my landline is ••••18"),
        ("ring +44 (0)161 496 0000 anytime", "ring ••••00 anytime"),
        ("my number is +44 7700 900123", "my number is ••••23"),
        ("text 07700900123 about order 10002", "text ••••23 about order 10002"),
        ("order 10002, number 07700 900123 10003", "order 10002, number ••••23 10003"),
        ("US cell +1 (555) 010-0199", "US cell ••••99"),
        ("whatsapp:+447700900123", "whatsapp:••••23"),
        ("sent from (+447700900123) and (07911 123456)", "sent from (••••23) and (••••56)"),
        # addresses and postcodes
        ("I live at 12 Acacia Avenue, Leeds LS1 4AB", "I live at [address], Leeds [postcode]"),
        (
            "deliver to Flat 3, 221B Baker Street, London NW1 6XE",
            "deliver to Flat 3, [address], London [postcode]",
        ),
        ("it went to 7 St John\u2019s Road by mistake", "it went to [address] by mistake"),
        ("postcode is sw1a 1aa", "postcode is [postcode]"),
        ("B33 8TH", "[postcode]"),
    ],
)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "where is my order 10002?",
        "orders 10001, 10002 and 10003 all arrived",
        "10002 10003 10004 10005",
        "it cost £1,299.00 and then £24.99 on top",
        "refund of €45.50 for order 10008",
        "delivered on 12/03/2026 at 10:30",
        "on 03-10-2026 10:30 the parcel was lost",
        "by 2026-03-10 at the latest",
        "1970-01-01T00:16:40+00:00",
        "between 09:00 and 17:30, Monday to Friday",
        "3f2a1b4c-1234-4567-8901-234567890123",
        "tracking number JD014600006281234567",
        "that's 4111 1111 1111 1112",  # not Luhn-valid, not a phone number either
        "I bought 2 Pine lamps and 3 Oak Shelves",
        "the 4th of July, a4 2nd edition",
        "Pine+ costs £19 a month",
        "a***@example.com",  # already masked: stays as it is
        "[card ••••1111] and ••••23",
    ],
)
def test_what_agents_need_is_not_masked(text: str) -> None:
    assert mask_text(text) == text


def test_only_the_kinds_asked_for_are_masked() -> None:
    text = "ada@example.com, 07911 123456, 4111 1111 1111 1111"

    assert mask_text(text, {PHONE}) == "ada@example.com, ••••56, 4111 1111 1111 1111"
    assert mask_text(text, {EMAIL, CARD}) == "a***@example.com, 07911 123456, [card ••••1111]"
    assert mask_text(text, set()) == text


def test_luhn_and_iban_checks() -> None:
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112")
    assert iban_valid("GB82WEST12345698765432") and iban_valid("de89370400440532013000")
    assert not iban_valid("GB82WEST12345698765433") and not iban_valid("GB82")


def test_a_payload_is_masked_string_by_string_and_keeps_its_shape() -> None:
    payload = {
        "summary": "Order 10002 for ada@example.com",
        "transcript": [
            {"speaker": "customer", "text": "call 07911 123456", "at": "2026-03-10T12:00:00+00:00"}
        ],
        "probabilities": {"anger": 0.1},
        "turn": 3,
        "callback": None,
    }

    masked = mask_payload(payload)

    assert masked == {
        "summary": "Order 10002 for a***@example.com",
        "transcript": [{"speaker": "customer", "text": "call ••••56", "at": "2026-03-10T12:00:00+00:00"}],
        "probabilities": {"anger": 0.1},
        "turn": 3,
        "callback": None,
    }
    assert payload["summary"] == "Order 10002 for ada@example.com"  # a copy: what is stored is untouched
    assert mask_payload(payload, set()) is payload


@pytest.fixture
def root_logging() -> Iterator[logging.Logger]:
    """The root logger, restored after the test (logging_setup.configure replaces its handlers)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_service_logs_masked_messages_fields_and_tracebacks(root_logging: logging.Logger) -> None:
    logging_setup.configure("INFO", "json")
    (handler,) = root_logging.handlers
    assert any(isinstance(f, MaskingFilter) for f in handler.filters)
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    log = logging.getLogger("handoff.test")

    log.info("call-back for %s", "+447911123456", extra={"customer": "ada@example.com", "order": "10002"})
    try:
        raise ValueError("no such card 4111 1111 1111 1111")
    except ValueError:
        log.exception("lookup failed", extra={"lines": [{"text": "I live at 12 Acacia Avenue"}]})

    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["msg"] == "call-back for ••••56"
    assert first["customer"] == "a***@example.com" and first["order"] == "10002"
    assert second["lines"] == [{"text": "I live at [address]"}]
    assert "[card ••••1111]" in second["exc"] and "4111" not in second["exc"].replace("••••1111", "")


def test_text_logs_are_masked_too(root_logging: logging.Logger) -> None:
    logging_setup.configure("INFO", "text")
    stream = io.StringIO()
    root_logging.handlers[0].setStream(stream)  # type: ignore[attr-defined]

    logging.getLogger("handoff.test").warning("customer %s wrote from %s", "ada@example.com", "07911 123456")

    assert stream.getvalue().rstrip().endswith("customer a***@example.com wrote from ••••56")


def test_a_malformed_log_call_still_reaches_the_handler() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s and %s", ("one",), None)

    assert MaskingFilter().filter(record) is True
    assert record.args == ("one",)  # left for the handler to report as usual


# --- the shop's own addresses (issue 16) -----------------------------------------------------
HANDED_BACK = (
    "Please e-mail help@parcelpine.example or call us on 0800 000 0000 and mention this chat. "
    "My e-mail is ada@example.com and my number 07700 900123."
)


def test_the_shops_own_addresses_are_never_masked() -> None:
    assert mask_text(HANDED_BACK) == (
        "Please e-mail help@parcelpine.example or call us on 0800 000 0000 and mention this chat. "
        "My e-mail is a***@example.com and my number ••••23."
    )


@pytest.mark.parametrize(
    "written",
    ["HELP@ParcelPine.example", "+44 800 000 0000", "08000000000", "0800-000-0000", "(0800) 000 0000"],
)
def test_the_shops_addresses_are_kept_however_they_are_written(written: str) -> None:
    assert mask_text(f"reach us at {written} today") == f"reach us at {written} today"


@pytest.mark.parametrize(
    "lookalike, masked",
    [
        ("help@parcelpine.example.evil.com", "h***@parcelpine.example.evil.com"),
        ("xhelp@parcelpine.example", "x***@parcelpine.example"),
        ("0800 000 0001", "••••01"),
        ("+1 800 000 0000", "••••00"),
    ],
)
def test_an_address_that_only_looks_like_the_shops_is_masked(lookalike: str, masked: str) -> None:
    assert mask_text(f"write to {lookalike} now") == f"write to {masked} now"


def test_the_allow_list_is_the_callers() -> None:
    nothing_kept = mask_text(HANDED_BACK, keep=())
    other_shop = mask_text("ada@example.com or help@parcelpine.example", keep=("ada@example.com",))

    assert "help@parcelpine.example" not in nothing_kept and "0800 000 0000" not in nothing_kept
    assert other_shop == "ada@example.com or h***@parcelpine.example"
    assert mask_payload({"a": ["help@parcelpine.example"]}, keep=()) == {"a": ["h***@parcelpine.example"]}
    assert mask_payload({"a": ["help@parcelpine.example"]}) == {"a": ["help@parcelpine.example"]}


def _response_texts(node: object) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _response_texts(value)
    elif isinstance(node, list):
        for value in node:
            yield from _response_texts(value)


def test_every_address_the_bot_gives_customers_is_on_the_default_allow_list() -> None:
    """The default allow-list is the shop's own addresses as domain.yml's responses give them."""
    domain = yaml.safe_load(Path(__file__).resolve().parents[2].joinpath("domain.yml").read_text())
    texts = list(_response_texts(domain["responses"]))
    emails = {m for t in texts for m in re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", t)}
    # The shop's number is the one customers are asked to call ("call us on ..."); the bot's example
    # of a number to give ("for example +44 7911 123456") is nobody's and may be masked.
    phones = {m.strip() for t in texts for m in re.findall(r"(?:call|phone|ring) us on ([\d ()+-]{8,}\d)", t)}

    assert emails and phones, "domain.yml's responses name no shop address: update SHOP_ADDRESSES' test"
    assert emails <= set(SHOP_ADDRESSES) and phones <= set(SHOP_ADDRESSES)
    for text in texts:
        if any(address in text for address in (*emails, *phones)):
            assert mask_text(text) == text
