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

Order numbers (5 digits), prices, dates and times stay as they are: agents need them.  So do the
shop's own addresses (``SHOP_ADDRESSES``: the help e-mail and phone number the bot gives customers,
in domain.yml's responses): they are nobody's personal data, and an agent must be able to read them.
Callers pass another allow-list as ``keep``; a test keeps the default in step with domain.yml.
"""

import logging
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import phonenumbers

from handoff.shared.phone_numbers import mask_phone

EMAIL, IBAN, CARD, PHONE, ADDRESS, POSTCODE = "email", "iban", "card", "phone", "address", "postcode"
KINDS = (EMAIL, IBAN, CARD, PHONE, ADDRESS, POSTCODE)
ALL = frozenset(KINDS)
DEFAULT_REGION = "GB"
# The shop's own help e-mail and phone number (domain.yml's responses give them to customers).
SHOP_ADDRESSES: Final = ("help@parcelpine.example", "0800 000 0000")

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


@dataclass(frozen=True)
class AllowList:
    """Addresses never masked: e-mails compared without case, phone numbers by their digits."""

    emails: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()

    def keeps_email(self, address: str) -> bool:
        return address.lower() in self.emails

    def keeps_phone(self, raw: str) -> bool:
        return bool(self.phones) and phone_key(raw) in self.phones


def phone_key(raw: str) -> str:
    """A phone number as country code and national number ("448000000000"), however it was written."""
    try:
        number = phonenumbers.parse(raw, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return re.sub(r"\D", "", raw)
    return f"{number.country_code}{number.national_number}"


@lru_cache(maxsize=16)
def allow_list(addresses: tuple[str, ...] = SHOP_ADDRESSES) -> AllowList:
    """The allow-list of ``addresses``: each is an e-mail address or a phone number."""
    emails = frozenset(a.strip().lower() for a in addresses if "@" in a)
    phones = frozenset(phone_key(a) for a in addresses if "@" not in a and re.search(r"\d", a))
    return AllowList(emails, phones)


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return f"[card ••••{digits[-4:]}]" if luhn_valid(digits) else match.group(0)


def _phone_mask(raw: str) -> str:
    # A bracket the number opened but did not close is the text's, as in "(+447700900123)".
    bracket = "(" if raw.startswith("(") and raw.count("(") > raw.count(")") else ""
    return bracket + mask_phone(raw)


def _mask_phone_fallback(match: re.Match[str], allowed: AllowList) -> str:
    found = match.group(0)
    if _DATE_PREFIX.match(found):
        return found
    # A run may have swallowed a following number ("07700 900123 10002"): drop trailing groups.
    kept = found
    while len(re.sub(r"\D", "", kept)) > 15 and " " in kept:
        kept = kept.rsplit(" ", 1)[0].rstrip(" (-")
    if allowed.keeps_phone(kept):
        return found
    if 9 <= len(re.sub(r"\D", "", kept)) <= 15:
        return _phone_mask(kept) + found[len(kept) :]
    return found


def _mask_phones(text: str, allowed: AllowList) -> str:
    if not _PHONE_HINT.search(text):
        return text
    matches = list(
        phonenumbers.PhoneNumberMatcher(text, DEFAULT_REGION, leniency=phonenumbers.Leniency.VALID)
    )
    for match in reversed(matches):
        if not allowed.keeps_phone(match.raw_string):
            text = text[: match.start] + _phone_mask(match.raw_string) + text[match.end :]
    # The fallback sees a kept number again, and keeps it again.
    return _PHONE.sub(lambda m: _mask_phone_fallback(m, allowed), text)


def _mask_emails(text: str, allowed: AllowList) -> str:
    return _EMAIL.sub(
        lambda m: m.group(0) if allowed.keeps_email(m.group(0)) else f"{m.group(1)}***@{m.group(2)}", text
    )


_RULES: tuple[tuple[str, Callable[[str, AllowList], str]], ...] = (
    (EMAIL, _mask_emails),
    (IBAN, lambda t, _: _IBAN.sub(_mask_iban, t)),
    (CARD, lambda t, _: _CARD.sub(_mask_card, t)),
    (PHONE, _mask_phones),
    (ADDRESS, lambda t, _: _ADDRESS.sub("[address]", t)),
    (POSTCODE, lambda t, _: _POSTCODE.sub("[postcode]", t)),
)


def mask_text(text: str, kinds: Collection[str] = ALL, keep: Collection[str] = SHOP_ADDRESSES) -> str:
    """``text`` with the personal data of ``kinds`` masked (all kinds unless told otherwise); the
    addresses in ``keep`` (the shop's own, by default) stay as they are.
    """
    allowed = allow_list(tuple(keep))
    for kind, rule in _RULES:
        if kind in kinds:
            text = rule(text, allowed)
    return text


def mask_payload(value: Any, kinds: Collection[str] = ALL, keep: Collection[str] = SHOP_ADDRESSES) -> Any:
    """A copy of ``value`` with every string masked (keys stay as they are); ``keep`` as for mask_text."""
    if not kinds:
        return value
    if isinstance(value, str):
        return mask_text(value, kinds, keep)
    if isinstance(value, list):
        return [mask_payload(v, kinds, keep) for v in value]
    if isinstance(value, dict):
        return {k: mask_payload(v, kinds, keep) for k, v in value.items()}
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
