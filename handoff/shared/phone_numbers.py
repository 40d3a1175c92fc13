"""Phone numbers, one way everywhere: parsed to E.164, found in free text, masked for display.

The call-back form (actions/callback_form.py), the call jobs (handoff/callbacks/call_jobs.py), the
customer identities (handoff/privacy/customers.py) and the personal-data masking
(handoff/shared/masking.py) all use these, so a number is read and shown the same way by both
services.  Pure: phonenumbers only.
"""

import re
from typing import Final

import phonenumbers

MASK: Final = "••••"
MASKED_DIGITS: Final = 2  # enough for a customer to recognise their number, too few to dial it


class NotAPhoneNumber(ValueError):
    """The text is not a phone number (the message says why)."""


def to_e164(text: str, region: str | None = None, *, require_valid: bool = True) -> str:
    """``text`` (``+44…``, national with ``region``, or ``whatsapp:+44…``) in E.164.

    ``require_valid`` also checks the number is one that can be dialled (assigned ranges), not only
    well-formed; identities stored before that check existed keep their form without it.
    """
    try:
        parsed = phonenumbers.parse(text.strip().removeprefix("whatsapp:"), region)
    except phonenumbers.NumberParseException as error:
        raise NotAPhoneNumber(f"not a phone number: {error}") from error
    if require_valid and not phonenumbers.is_valid_number(parsed):
        raise NotAPhoneNumber("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def find_phone_number(text: str, region: str) -> str | None:
    """The first valid phone number in free text, in E.164; None when there is none."""
    candidate = text.strip().removeprefix("whatsapp:")
    for match in phonenumbers.PhoneNumberMatcher(candidate, region):
        if phonenumbers.is_valid_number(match.number):
            return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return None


def mask_phone(number: str) -> str:
    """The number as agents, logs and the customer see it: ``••••23``."""
    return MASK + re.sub(r"\D", "", number)[-MASKED_DIGITS:]
