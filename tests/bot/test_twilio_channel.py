"""The SMS/WhatsApp channel: Twilio's webhook served by Sanic on loopback, replies sent to a fake Twilio.

No model: the bot is replaced by a callback that records the UserMessage (and, where a test needs a
reply, answers through the message's own output channel, as Rasa does).
"""

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from sanic import Sanic
from twilio.request_validator import RequestValidator

from bot.components.input_checks import MAX_TEXT_CHARS
from bot.components.message_receipts import MessageReceipts
from bot.components.turn_guard import NOT_PROCESSED_TEXT
from bot.components.twilio_channel import (
    BadTwilioRequest,
    CheckedTwilioInput,
    CheckedTwilioOutput,
    TwilioChannelError,
    TwilioChannelSettings,
    inbound_message,
    reply_sender,
    signature_ok,
    webhook_form,
)
from tests.support.ports import bound_socket, port_of
from tests.support.sanic_server import mount_channels, serve_channels
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, TWILIO_NUMBER, FakeTwilio

ROOT = Path(__file__).resolve().parents[2]
CUSTOMER = "+447700900123"
PATH = "/webhooks/twilio/webhook"
CONFIGURED = TwilioChannelSettings(
    account_sid=ACCOUNT_SID,
    auth_token=AUTH_TOKEN,
    number=TWILIO_NUMBER,
    public_url="https://bot.example",
)

Handler = Callable[[UserMessage], Awaitable[Any]]


# --- settings -------------------------------------------------------------------------------------


def test_empty_credentials_name_every_variable_to_set() -> None:
    settings = TwilioChannelSettings.from_credentials(
        {"account_sid": "", "auth_token": "", "twilio_number": "", "api_base": "", "public_url": ""}
    )

    assert settings.missing() == [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_FROM_NUMBER",
        "ATTUNE_PUBLIC_RASA_URL",
    ]
    assert TwilioChannelSettings.from_credentials(None) == TwilioChannelSettings()


def test_credentials_are_read_and_urls_normalised() -> None:
    settings = TwilioChannelSettings.from_credentials(
        {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "twilio_number": TWILIO_NUMBER,
            "whatsapp_number": "+14155238886",
            "api_base": "http://127.0.0.1:4010/",
            "public_url": "https://bot.example/",
        }
    )

    assert settings.missing() == []
    assert (settings.api_base, settings.public_url) == ("http://127.0.0.1:4010", "https://bot.example")
    assert settings.whatsapp_number == "+14155238886"


@pytest.mark.parametrize(
    ("key", "variable"), [("public_url", "ATTUNE_PUBLIC_RASA_URL"), ("api_base", "ATTUNE_TWILIO_API_BASE")]
)
def test_a_url_that_is_not_http_stops_the_server_naming_the_variable(key: str, variable: str) -> None:
    with pytest.raises(TwilioChannelError, match=variable):
        TwilioChannelSettings.from_credentials({key: "bot.example"})


# --- pure helpers ---------------------------------------------------------------------------------


def test_the_form_keeps_empty_values_because_twilio_signs_them() -> None:
    form = webhook_form(
        "application/x-www-form-urlencoded; charset=UTF-8", b"From=%2B447700900123&Body=&NumMedia=1"
    )

    assert dict(form) == {"From": CUSTOMER, "Body": "", "NumMedia": "1"}
    assert dict(webhook_form("application/json", b'{"From": "+447700900123"}')) == {}


def test_signatures_are_checked_for_the_url_and_every_parameter() -> None:
    url = "https://bot.example/webhooks/twilio/webhook?channel=sms"
    params = {"From": CUSTOMER, "Body": "hi"}
    good = RequestValidator(AUTH_TOKEN).compute_signature(url, params)

    assert signature_ok(AUTH_TOKEN, url, params, good)
    assert not signature_ok(AUTH_TOKEN, url, {**params, "Body": "hi!"}, good)
    assert not signature_ok(AUTH_TOKEN, "https://bot.example/webhooks/twilio/webhook", params, good)
    assert not signature_ok("another-token", url, params, good)
    assert not signature_ok(AUTH_TOKEN, url, params, None)
    assert not signature_ok(AUTH_TOKEN, url, params, "")


def test_the_sender_is_the_number_twilio_sends_and_the_text_the_body() -> None:
    assert inbound_message({"From": CUSTOMER, "Body": "where is order 10002?"}) == (
        CUSTOMER,
        "where is order 10002?",
    )
    assert inbound_message({"From": "whatsapp:" + CUSTOMER, "Body": ""}) == ("whatsapp:" + CUSTOMER, "")
    assert inbound_message({"From": CUSTOMER, "Body": "me¡example.com"}) == (CUSTOMER, "me@example.com")


def test_a_shared_location_needs_no_body() -> None:
    sender, text = inbound_message({"From": "whatsapp:" + CUSTOMER, "Latitude": "51.5", "Longitude": "-0.12"})

    assert (sender, text) == ("whatsapp:" + CUSTOMER, "/locationData{'Latitude': 51.5,'Longitude': -0.12}")


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"Body": "hi"}, "'From' is required"),
        ({"From": " ", "Body": "hi"}, "'From'"),
        ({"From": CUSTOMER}, "'Body' is required"),
    ],
)
def test_a_message_without_sender_or_body_is_refused_with_the_reason(
    form: dict[str, str], reason: str
) -> None:
    with pytest.raises(BadTwilioRequest, match=reason):
        inbound_message(form)


def test_replies_come_from_the_number_that_suits_the_recipient() -> None:
    assert reply_sender(CUSTOMER, TWILIO_NUMBER) == TWILIO_NUMBER
    assert reply_sender(CUSTOMER, TWILIO_NUMBER, "+14155238886") == TWILIO_NUMBER
    assert reply_sender("whatsapp:" + CUSTOMER, TWILIO_NUMBER) == "whatsapp:" + TWILIO_NUMBER
    assert reply_sender("whatsapp:" + CUSTOMER, TWILIO_NUMBER, "+14155238886") == "whatsapp:+14155238886"
    assert (
        reply_sender("whatsapp:" + CUSTOMER, TWILIO_NUMBER, "whatsapp:+14155238886")
        == "whatsapp:+14155238886"
    )


# --- the webhook, served by Sanic ------------------------------------------------------------------


@dataclasses.dataclass
class Served:
    base_url: str
    received: list[UserMessage]
    handler: list[Handler]  # what "the bot" does with each message (default: nothing)

    @property
    def webhook(self) -> str:
        return self.base_url + PATH


@pytest.fixture(autouse=True)
def sanic_test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    # Sanic rewrites its HTTP handlers when a server starts; in test mode it can do so more than once.
    monkeypatch.setattr(Sanic, "test_mode", True)


@contextlib.asynccontextmanager
async def serve(
    settings: TwilioChannelSettings, receipts: MessageReceipts, public_url: str | None = None
) -> AsyncIterator[Served]:
    """The channel on a Sanic server; Twilio signs for ``public_url`` (default: the server's own URL)."""
    received: list[UserMessage] = []
    handler: list[Handler] = []

    async def on_new_message(message: UserMessage) -> None:
        received.append(message)
        for handle in handler:
            await handle(message)

    def mount(app: Sanic, base_url: str) -> None:
        # Twilio signs the URL it posts to: a configured public URL is the one the channel is served at.
        public = settings
        if settings.public_url:
            public = dataclasses.replace(settings, public_url=public_url or base_url)
        mount_channels(app, [CheckedTwilioInput(public, receipts)], on_new_message)

    async with serve_channels([], on_new_message, name="twilio_channel_test", prepare=mount) as base_url:
        yield Served(base_url, received, handler)


def receipts_in(database: Path) -> MessageReceipts:
    """Receipts in an SQLite file, as a Rasa server keeps them in its tracker store's database."""
    return MessageReceipts.from_environ({"ATTUNE_TRACKER_DATABASE_URL": f"sqlite:///{database}"})


@pytest.fixture
def receipts(tmp_path: Path) -> MessageReceipts:
    return receipts_in(tmp_path / "tracker.db")


@pytest.fixture
async def twilio(aiohttp_server: Any) -> tuple[FakeTwilio, str]:
    fake = FakeTwilio()
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def channel(twilio: tuple[FakeTwilio, str], receipts: MessageReceipts) -> AsyncIterator[Served]:
    async with serve(dataclasses.replace(CONFIGURED, api_base=twilio[1]), receipts) as served:
        yield served


@pytest.fixture
async def unconfigured(receipts: MessageReceipts) -> AsyncIterator[Served]:
    async with serve(TwilioChannelSettings(), receipts) as served:
        yield served


async def post(url: str, data: dict[str, str], headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Status, content type and body."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=data, headers=headers or {}) as response,
    ):
        return response.status, response.content_type, await response.text()


async def test_without_credentials_the_webhook_answers_503_naming_what_to_set(unconfigured: Served) -> None:
    status, _, text = await post(unconfigured.webhook, {"From": CUSTOMER, "Body": "hi"})
    body = json.loads(text)

    assert status == 503
    assert body["error"] == "not_configured"
    for variable in (
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_FROM_NUMBER",
        "ATTUNE_PUBLIC_RASA_URL",
    ):
        assert variable in body["detail"]
    assert unconfigured.received == []


async def test_the_health_route_answers(channel: Served) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(channel.base_url + "/webhooks/twilio/") as response,
    ):
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_a_signed_sms_becomes_a_user_message_in_the_sms_conversation_of_the_number(
    channel: Served, twilio: tuple[FakeTwilio, str]
) -> None:
    status = await twilio[0].send_sms(channel.webhook, CUSTOMER, "where is order 10002?")

    assert status == 200
    [message] = channel.received
    assert (message.sender_id, message.text, message.input_channel) == (
        "sms:" + CUSTOMER,
        "where is order 10002?",
        "twilio",
    )
    assert isinstance(message.output_channel, CheckedTwilioOutput)
    # The number Twilio verified is the only identity the consent gate asserts.
    assert message.metadata["attune"]["identities"] == [{"kind": "phone", "value": CUSTOMER}]


async def test_twilio_gets_empty_twiml_so_it_sends_no_reply_of_its_own(channel: Served) -> None:
    params = {"MessageSid": "SM" + "0" * 32, "From": CUSTOMER, "To": TWILIO_NUMBER, "Body": "hi"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(channel.webhook, params)

    status, content_type, text = await post(channel.webhook, params, {"X-Twilio-Signature": signature})

    assert (status, content_type) == (200, "text/xml")
    assert text.endswith("<Response></Response>")


async def test_a_media_message_with_an_empty_body_is_accepted(
    channel: Served, twilio: tuple[FakeTwilio, str]
) -> None:
    assert await twilio[0].send_sms(channel.webhook, "whatsapp:" + CUSTOMER, "") == 200
    assert [(m.sender_id, m.text) for m in channel.received] == [("whatsapp:" + CUSTOMER, "")]
    assert channel.received[0].metadata["attune"]["identities"] == [{"kind": "phone", "value": CUSTOMER}]


@pytest.mark.parametrize("signature", ["", "forged-signature"])
async def test_a_missing_or_forged_signature_gets_403_and_is_logged(
    channel: Served, twilio: tuple[FakeTwilio, str], signature: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.components.twilio_channel"):
        status = await twilio[0].send_sms(channel.webhook, CUSTOMER, "hi", signature=signature)

    assert status == 403
    assert channel.received == []
    assert "X-Twilio-Signature" in caplog.text


async def test_a_signature_for_another_url_gets_403(channel: Served) -> None:
    params = {"From": CUSTOMER, "Body": "hi"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature("https://elsewhere.example" + PATH, params)

    status, _, text = await post(channel.webhook, params, {"X-Twilio-Signature": signature})

    assert (status, json.loads(text)["error"]) == (403, "forbidden")
    assert channel.received == []


async def test_a_signed_message_without_a_body_gets_400_with_the_reason(
    channel: Served, twilio: tuple[FakeTwilio, str]
) -> None:
    assert await twilio[0].send_sms(channel.webhook, CUSTOMER, None) == 400
    assert channel.received == []


async def test_a_failure_of_the_bot_is_logged_and_the_customer_told_by_sms_not_a_500(
    channel: Served, twilio: tuple[FakeTwilio, str], caplog: pytest.LogCaptureFixture
) -> None:
    async def crash(_: UserMessage) -> None:
        raise RuntimeError("the bot fell over")

    channel.handler.append(crash)
    with caplog.at_level(logging.ERROR, logger="bot.components.turn_guard"):
        assert await twilio[0].send_sms(channel.webhook, CUSTOMER, "hi") == 200
    assert "the bot fell over" in caplog.text
    assert [(m["To"], m["Body"]) for m in twilio[0].messages] == [(CUSTOMER, NOT_PROCESSED_TEXT)]


@pytest.mark.parametrize(
    ("sender", "body", "reason"),
    [
        ("+44770090\x00123", "hi", "'From' must be printable text: character 9 is U+0000"),
        ("+44\u202e7700900123", "hi", "U+202E"),
        ("+" + "4" * 200, "hi", "'From' must be at most 128 characters"),
        (CUSTOMER, "x" * (MAX_TEXT_CHARS + 1), f"'Body' must be at most {MAX_TEXT_CHARS} characters"),
    ],
    ids=["nul", "rtl-override", "long", "long-body"],
)
async def test_a_signed_message_from_an_unusable_sender_gets_400_with_the_reason(
    channel: Served, twilio: tuple[FakeTwilio, str], sender: str, body: str, reason: str
) -> None:
    params = {"From": sender, "To": TWILIO_NUMBER, "Body": body}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(channel.webhook, params)

    status, _, text = await post(channel.webhook, params, {"X-Twilio-Signature": signature})

    assert (status, json.loads(text)["error"]) == (400, "bad_request")
    assert reason in json.loads(text)["detail"]
    assert channel.received == []


async def test_control_characters_in_the_body_reach_the_bot_replaced(
    channel: Served, twilio: tuple[FakeTwilio, str]
) -> None:
    assert await twilio[0].send_sms(channel.webhook, CUSTOMER, "where\x00 is\x1b[2J it?\nthanks") == 200

    assert [m.text for m in channel.received] == ["where\ufffd is\ufffd[2J it?\nthanks"]


async def test_the_reply_goes_to_the_customer_once_from_the_twilio_number(
    channel: Served, twilio: tuple[FakeTwilio, str]
) -> None:
    async def reply(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "Order 10002 is on its way.")

    channel.handler.append(reply)
    await twilio[0].send_sms(channel.webhook, CUSTOMER, "where is order 10002?")
    await twilio[0].send_sms(channel.webhook, "whatsapp:" + CUSTOMER, "and on WhatsApp?")

    assert [(m["To"], m["From"], m["Body"]) for m in twilio[0].messages] == [
        (CUSTOMER, TWILIO_NUMBER, "Order 10002 is on its way."),
        ("whatsapp:" + CUSTOMER, "whatsapp:" + TWILIO_NUMBER, "Order 10002 is on its way."),
    ]


# --- the output channel ----------------------------------------------------------------------------


def output_for(base: str, **changes: str) -> CheckedTwilioOutput:
    return CheckedTwilioOutput(dataclasses.replace(CONFIGURED, api_base=base, **changes))


async def test_a_message_to_a_conversation_goes_to_its_number(twilio: tuple[FakeTwilio, str]) -> None:
    fake, base = twilio
    output = output_for(base)

    await output.send_text_message("sms:" + CUSTOMER, "Sam here.")  # an agent's message (/execute)
    await output.send_image_url("sms:" + CUSTOMER, "https://shop.example/parcel.png")
    await output.send_text_message("whatsapp:" + CUSTOMER, "Sam here.")

    assert [(m["To"], m["From"]) for m in fake.messages] == [
        (CUSTOMER, TWILIO_NUMBER),
        (CUSTOMER, TWILIO_NUMBER),
        ("whatsapp:" + CUSTOMER, "whatsapp:" + TWILIO_NUMBER),
    ]


async def test_each_paragraph_is_one_message_and_blank_ones_are_skipped(
    twilio: tuple[FakeTwilio, str],
) -> None:
    fake, base = twilio

    await output_for(base).send_text_message(CUSTOMER, "First.\n\n \n\nSecond.")

    assert [m["Body"] for m in fake.messages] == ["First.", "Second."]


async def test_whatsapp_replies_come_from_the_separate_whatsapp_number(
    twilio: tuple[FakeTwilio, str],
) -> None:
    fake, base = twilio

    await output_for(base, whatsapp_number="+14155238886").send_text_message("whatsapp:" + CUSTOMER, "Hi")

    assert (fake.messages[0]["From"], fake.messages[0]["To"]) == (
        "whatsapp:+14155238886",
        "whatsapp:" + CUSTOMER,
    )


async def test_a_twilio_error_is_logged_and_not_retried(
    twilio: tuple[FakeTwilio, str], caplog: pytest.LogCaptureFixture
) -> None:
    fake, base = twilio
    fake.scripted.append(500)

    with caplog.at_level(logging.ERROR, logger="bot.components.twilio_channel"):
        await output_for(base).send_text_message(CUSTOMER, "Hi")

    assert len(fake.messages) == 1
    assert "20500" in caplog.text


async def test_an_unreachable_twilio_is_logged_and_the_conversation_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with bound_socket() as sock:
        closed = f"http://127.0.0.1:{port_of(sock)}"  # bound, never listening: refused

        with caplog.at_level(logging.ERROR, logger="bot.components.twilio_channel"):
            await output_for(closed).send_text_message(CUSTOMER, "Hi")

    assert "could not send a reply through Twilio" in caplog.text


def test_without_credentials_there_is_no_output_channel(receipts: MessageReceipts) -> None:
    channel = CheckedTwilioInput(TwilioChannelSettings(public_url="https://bot.example"), receipts)

    with pytest.raises(TwilioChannelError, match="TWILIO_ACCOUNT_SID"):
        channel.get_output_channel()


# --- each message once (MessageSid) ----------------------------------------------------------------


async def test_a_replayed_signed_webhook_gets_empty_twiml_and_is_not_handled_again(
    channel: Served, twilio: tuple[FakeTwilio, str]
) -> None:
    """Issue 14: a captured, validly signed webhook was a new customer message, and another SMS."""
    fake = twilio[0]

    async def reply(message: UserMessage) -> None:
        await message.output_channel.send_text_message(message.sender_id, "Order 10002 is on its way.")

    channel.handler.append(reply)
    assert await fake.send_sms(channel.webhook, CUSTOMER, "where is order 10002?") == 200

    replays = [await fake.replay() for _ in range(3)]

    assert {status for status, _ in replays} == {200}
    assert all(text.endswith("<Response></Response>") for _, text in replays)
    assert [m.text for m in channel.received] == ["where is order 10002?"]
    assert len(fake.messages) == 1  # one reply, to the one message


async def test_the_same_sid_is_one_message_on_sms_and_on_whatsapp(
    channel: Served, twilio: tuple[FakeTwilio, str]
) -> None:
    fake = twilio[0]
    await fake.send_sms(channel.webhook, "whatsapp:" + CUSTOMER, "on WhatsApp")
    await fake.replay()
    await fake.send_sms(channel.webhook, CUSTOMER, "by SMS")
    await fake.replay()

    assert [(m.sender_id, m.text) for m in channel.received] == [
        ("whatsapp:" + CUSTOMER, "on WhatsApp"),
        ("sms:" + CUSTOMER, "by SMS"),
    ]


async def test_a_replay_after_a_restart_or_to_another_server_is_not_handled(
    twilio: tuple[FakeTwilio, str], tmp_path: Path
) -> None:
    """Two Rasa servers on one tracker-store database; the first is stopped before the replay."""
    fake, base = twilio
    settings = dataclasses.replace(CONFIGURED, api_base=base)
    public = "https://bot.example"  # both behind one public URL, as behind a load balancer
    async with serve(settings, receipts_in(tmp_path / "tracker.db"), public) as first:
        await fake.send_sms(first.webhook, CUSTOMER, "hello", public_url=public + PATH)
    async with serve(settings, receipts_in(tmp_path / "tracker.db"), public) as restarted:
        status, text = await fake.replay(to_url=restarted.webhook)
        assert await fake.send_sms(restarted.webhook, CUSTOMER, "a new one", public_url=public + PATH) == 200

    assert (status, text.endswith("<Response></Response>")) == (200, True)
    assert [m.text for m in first.received] == ["hello"]
    assert [m.text for m in restarted.received] == ["a new one"]


async def test_two_servers_receiving_one_message_at_once_handle_it_once(
    twilio: tuple[FakeTwilio, str], tmp_path: Path
) -> None:
    fake, base = twilio
    settings = dataclasses.replace(CONFIGURED, api_base=base)
    public = "https://bot.example"
    async with (
        serve(settings, receipts_in(tmp_path / "tracker.db"), public) as a,
        serve(settings, receipts_in(tmp_path / "tracker.db"), public) as b,
    ):
        await fake.send_sms(a.webhook, CUSTOMER, "hello", public_url=public + PATH)
        del a.received[:]
        results = await asyncio.gather(*(fake.replay(0, server.webhook) for server in (a, b, a, b)))

    assert {status for status, _ in results} == {200}
    assert a.received + b.received == []


async def test_a_webhook_without_a_message_sid_gets_400(channel: Served) -> None:
    params = {"From": CUSTOMER, "To": TWILIO_NUMBER, "Body": "hi"}
    signature = RequestValidator(AUTH_TOKEN).compute_signature(channel.webhook, params)

    status, _, text = await post(channel.webhook, params, {"X-Twilio-Signature": signature})

    assert (status, json.loads(text)["error"]) == (400, "bad_request")
    assert "MessageSid" in json.loads(text)["detail"]
    assert channel.received == []


async def test_when_the_receipts_cannot_be_written_the_message_is_refused_with_503(
    twilio: tuple[FakeTwilio, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unwritable = receipts_in(tmp_path / "no-such-directory" / "tracker.db")
    async with serve(dataclasses.replace(CONFIGURED, api_base=twilio[1]), unwritable) as served:
        with caplog.at_level(logging.ERROR, logger="bot.components.twilio_channel"):
            status = await twilio[0].send_sms(served.webhook, CUSTOMER, "hi")

    assert status == 503
    assert served.received == []
    assert "cannot tell whether SM" in caplog.text


# --- handoff notices by SMS and WhatsApp -----------------------------------------------------------


def domain_response(name: str, channel: str, **slots: str) -> dict[str, Any]:
    """What Rasa renders of domain.yml's ``name`` for an output channel (its templated NLG)."""
    responses = Domain.load(str(ROOT / "domain.yml")).responses
    rendered = TemplatedNaturalLanguageGenerator(responses).generate_from_slots(name, slots, channel)
    assert rendered is not None
    return rendered


@pytest.mark.parametrize(
    ("response", "text"),
    [
        ("utter_agent_joined", "Sam from the Parcelpine team has joined the chat"),
        ("utter_handback", "You're back with Pip"),
    ],
)
@pytest.mark.parametrize("recipient", ["sms:" + CUSTOMER, "whatsapp:" + CUSTOMER])
async def test_a_handoff_notice_reaches_an_sms_or_whatsapp_customer_once_as_text(
    twilio: tuple[FakeTwilio, str], response: str, text: str, recipient: str
) -> None:
    """Issue 14: the web chat's custom data went to messages.create(data=...): a TypeError, a 500."""
    fake, base = twilio
    output = output_for(base)

    await output.send_response(recipient, domain_response(response, output.name(), agent_name="Sam"))

    [sent] = fake.messages
    assert text in sent["Body"]
    assert sent["To"] == recipient.removeprefix("sms:")


@pytest.mark.parametrize(
    ("response", "notice"), [("utter_agent_joined", "agent_joined"), ("utter_handback", "agent_left")]
)
def test_the_web_chat_still_gets_its_notice_data(response: str, notice: str) -> None:
    rendered = domain_response(response, "socketio", agent_name="Sam")

    assert rendered["custom"]["data"]["notice"] == notice


async def test_a_custom_payload_sends_only_what_twilio_takes_and_nothing_without_content(
    twilio: tuple[FakeTwilio, str],
) -> None:
    fake, base = twilio
    output = output_for(base)

    await output.send_custom_json("sms:" + CUSTOMER, {"data": {"notice": "agent_joined"}})
    await output.send_custom_json(
        "sms:" + CUSTOMER, {"body": "Your parcel:", "data": {"x": 1}, "to": "+1555"}
    )

    assert [(m["To"], m["From"], m["Body"]) for m in fake.messages] == [
        (CUSTOMER, TWILIO_NUMBER, "Your parcel:")
    ]


async def test_a_payload_the_twilio_client_cannot_send_is_logged_not_raised(
    twilio: tuple[FakeTwilio, str], caplog: pytest.LogCaptureFixture
) -> None:
    output = output_for(twilio[1])

    with caplog.at_level(logging.ERROR, logger="bot.components.twilio_channel"):
        await output._send_message({"to": CUSTOMER, "body": "hi", "data": {"notice": "agent_joined"}})

    assert "malformed" in caplog.text
    assert twilio[0].messages == []
