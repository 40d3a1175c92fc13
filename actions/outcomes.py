"""What a self-service attempt came to: the reply to send and whether the customer's need was met.

``failed`` marks a *failed self-service attempt* (unknown order, refund still pending, return
window closed, ...): the signal the empathy engine counts towards frustration and escalation.
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Outcome:
    code: str
    response: str
    failed: bool = False
    variables: dict[str, Any] = field(default_factory=dict)
    # Slots the action should set besides the bookkeeping ones (e.g. forget a wrong order id).
    slots: dict[str, Any] = field(default_factory=dict)
    # A question on the way to an answer (the e-mail or postcode on an order, a one-time code): not
    # an attempt, so neither logged nor counted, and the run of failures goes on.
    question: bool = False
    # Responses sent before ``response`` ("Thanks, that's confirmed.").
    before: tuple[str, ...] = ()


def money(cents: int) -> str:
    return f"€{cents / 100:,.2f}"


def day(value: date | None) -> str:
    return value.strftime("%a %-d %b") if value else "an unknown date"


def mask_email(email: str) -> str:
    """``ada@example.com`` → ``a**@example.com``: enough to recognise, not enough to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'*' * max(len(local) - 1, 2)}@{domain}"


# Why a failed attempt failed, in words an agent can act on (the handoff payload shows these).
FAILURE_REASONS: dict[str, str] = {
    "order_not_found": "no order with that number exists",
    "delivery_delayed": "the delivery is delayed at the carrier",
    "marked_delivered_but_missing": "the carrier marked it delivered but the customer does not have it",
    "not_delivered_yet": "a return cannot start before the order is delivered",
    "return_window_closed": "the 30-day return window has closed",
    "no_refund": "no refund exists for that order",
    "refund_rejected": "the refund was rejected",
    "refund_pending": "the refund is still being processed",
    "no_duplicate_found": "only one charge was found, so there was nothing to refund",
    "order_details_mismatch": "the e-mail address or postcode given does not match the order",
    "code_wrong": "the one-time code was wrong or had expired",
    "verification_abandoned": "the customer stopped before proving the order or account was theirs",
    "not_verified": "it could no longer be confirmed that the customer owns the account, so nothing changed",
    "rate_limited": "too many lookups or failed checks in a short time, so the assistant stopped checking",
    "no_subscription": "the account has no active Pine+ subscription",
    "lookup_error": "the assistant could not look it up because of an error on our side",
}


def failure_reason(code: str) -> str:
    return FAILURE_REASONS.get(code, code.replace("_", " "))
