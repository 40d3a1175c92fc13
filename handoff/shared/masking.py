"""Masking personal data where it leaves the service: the console and API for roles without clearance
(handoff/core/access.py decides who), log lines, and webhooks to external desks.  Never applied to what is
stored.

What is found, in this order (each kind can be switched off by the caller):

- e-mail addresses: ``ada@example.com`` → ``a***@example.com``;
- IBANs that pass the ISO 13616 mod-97 check: ``GB82 WEST 1234 5698 7654 32`` → ``[IBAN ••••5432]``;
- card numbers of 13-19 digits (plain, or in groups of four / Amex 4-6-5) that pass the Luhn check:
  ``[card ••••1111]``; a run that fails Luhn is left to the phone rule (it is not a card);
- phone numbers: ``phonenumbers``' matcher (valid numbers, default region GB), then a fallback for
  numbers it rejects (fictional 07700 900xxx numbers, unknown ranges): 9-15 digits that start with
  ``+``, ``(`` or ``0`` → ``••••23`` (last two digits kept);
- street addresses, conservatively: a house number and one to three capitalised words before a
  street word (``12 Acacia Avenue``, ``221B Baker Street``) → ``[address]``;
- UK postcodes (``SW1A 1AA``, ``m1 1ae``) → ``[postcode]``.

Order numbers (5 digits), prices, dates and times stay as they are: agents need them.
"""

import logging
import re
from collections.abc import Callable, Collection
from typing import Any

import phonenumbers

from handoff.shared.phone_numbers import mask_phone

EMAIL, IBAN, CARD, PHONE, ADDRESS, POSTCODE = "email", "iban", "card", "phone", "address", "postcode"
KINDS = (EMAIL, IBAN, CARD, PHONE, ADDRESS, POSTCODE)
ALL = frozenset(KINDS)
DEFAULT_REGION = "GB"

_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")
# Country code, check digits, then groups of four (the printed form) or one unbroken run.
_IBAN = re.compile(r"(?<![\w-])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?(?![\w-])", re.I)
_CARD = re.compile(
    r"(?<![\w-])(?:\d{13,19}"
    r"|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{3})?"  # 4-4-4-4 (13-16 digits; 19 with a last 3)
    r"|\d{4}([ -])\d{6}\2\d{4,5})"  # Amex 4-6-5, Diners 4-6-4
    r"(?![\w-])"
)
_PHONE = re.compile(r"(?<![\w+()-])(?:\+\d|\(\+?\d|0)[\d ()-]{7,}\d(?![\w-])")
_DATE_PREFIX = re.compile(r"\d{1,2}[-/]\d{1,2}[-/]\d{2,4}\b|\d{4}-\d{2}-\d{2}\b")
# Something phone-like must be there before the (slower) phonenumbers matcher is asked.
# (Dashes and dots are left out so ISO dates and times do not count; the fallback still sees them.)
_PHONE_HINT = re.compile(r"\d[\d ()]{6,}\d")
_STREET_WORDS = (
    "Road|Rd|Street|St|Avenue|Ave|Lane|Ln|Drive|Dr|Close|Crescent|Way|Place|Court|Terrace|Gardens"
    "|Grove|Square|Mews|Parade"
)
_ADDRESS = re.compile(
    r"(?<![\w-])\d{1,4}[A-Za-z]?,?[ ](?:[A-Z][A-Za-z'\u2019-]+[ ]){1,3}(?i:" + _STREET_WORDS + r")\b\.?"
)
# Outward code, optional space, inward code; "4th" / "1st" after a letter-digit word are not postcodes.
_POSTCODE = re.compile(
    r"\b(?:[A-PR-UWYZ][A-HK-Y]?\d[A-HJKPSTUW\d]?|GIR)[ ]?"
    r"(?!(?-i:\d(?:st|nd|rd|th))\b)\d[ABD-HJLNP-UW-Z]{2}\b",
    re.I,
)


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def iban_valid(compact: str) -> bool:
    """ISO 13616: 15-34 characters, and the rearranged number is 1 modulo 97."""
    text = compact.upper()
    if not 15 <= len(text) <= 34 or not text.isalnum() or not text[2:4].isdigit():
        return False
    rearranged = text[4:] + text[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


def _mask_iban(match: re.Match[str]) -> str:
    # Greedy groups may have taken a following word: try the longest run that validates.
    found = match.group(0)
    ends = [i for i in range(len(found), 14, -1) if i == len(found) or found[i] == " "]
    for end in ends:
        compact = found[:end].replace(" ", "")
        if iban_valid(compact):
            return f"[IBAN ••••{compact[-4:]}]" + found[end:]
    return found


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return f"[card ••••{digits[-4:]}]" if luhn_valid(digits) else match.group(0)


def _phone_mask(raw: str) -> str:
    # A bracket the number opened but did not close is the text's, as in "(+447700900123)".
    bracket = "(" if raw.startswith("(") and raw.count("(") > raw.count(")") else ""
    return bracket + mask_phone(raw)


def _mask_phone_fallback(match: re.Match[str]) -> str:
    found = match.group(0)
    if _DATE_PREFIX.match(found):
        return found
    # A run may have swallowed a following number ("07700 900123 10002"): drop trailing groups.
    kept = found
    while len(re.sub(r"\D", "", kept)) > 15 and " " in kept:
        kept = kept.rsplit(" ", 1)[0].rstrip(" (-")
    if 9 <= len(re.sub(r"\D", "", kept)) <= 15:
        return _phone_mask(kept) + found[len(kept) :]
    return found


def _mask_phones(text: str) -> str:
    if not _PHONE_HINT.search(text):
        return text
    matches = list(
        phonenumbers.PhoneNumberMatcher(text, DEFAULT_REGION, leniency=phonenumbers.Leniency.VALID)
    )
    for match in reversed(matches):
        text = text[: match.start] + _phone_mask(match.raw_string) + text[match.end :]
    return _PHONE.sub(_mask_phone_fallback, text)


_RULES: tuple[tuple[str, Callable[[str], str]], ...] = (
    (EMAIL, lambda t: _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", t)),
    (IBAN, lambda t: _IBAN.sub(_mask_iban, t)),
    (CARD, lambda t: _CARD.sub(_mask_card, t)),
    (PHONE, _mask_phones),
    (ADDRESS, lambda t: _ADDRESS.sub("[address]", t)),
    (POSTCODE, lambda t: _POSTCODE.sub("[postcode]", t)),
)


def mask_text(text: str, kinds: Collection[str] = ALL) -> str:
    """``text`` with the personal data of ``kinds`` masked (all kinds unless told otherwise)."""
    for kind, rule in _RULES:
        if kind in kinds:
            text = rule(text)
    return text


def mask_payload(value: Any, kinds: Collection[str] = ALL) -> Any:
    """A copy of ``value`` with every string masked (keys stay as they are)."""
    if not kinds:
        return value
    if isinstance(value, str):
        return mask_text(value, kinds)
    if isinstance(value, list):
        return [mask_payload(v, kinds) for v in value]
    if isinstance(value, dict):
        return {k: mask_payload(v, kinds) for k, v in value.items()}
    return value


# Attributes every LogRecord has; anything else came through ``extra=`` and is masked too.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class MaskingFilter(logging.Filter):
    """Masks personal data in a log record: its message, its ``extra`` fields and its traceback.

    Install it on handlers (a filter on a logger does not see its children's records).  The record
    is changed in place, so every handler after this one sees the masked text too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: let the handler report it as usual
            return True
        record.msg, record.args = mask_text(message), None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, (str, list, dict)):
                setattr(record, key, mask_payload(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


def mask_root_log_handlers() -> None:
    """Puts a MaskingFilter on every handler of the root logger that has none yet.

    Both the Rasa server and the action server call it at start-up; it is safe to call again (a
    handler added since gets its filter, none gets a second one).
    """
    for handler in logging.getLogger().handlers:
        if not any(isinstance(existing, MaskingFilter) for existing in handler.filters):
            handler.addFilter(MaskingFilter())
