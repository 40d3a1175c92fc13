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


def money(cents: int) -> str:
    return f"€{cents / 100:,.2f}"


def day(value: date | None) -> str:
    return value.strftime("%a %-d %b") if value else "an unknown date"


def mask_email(email: str) -> str:
    """``ada@example.com`` → ``a**@example.com``: enough to recognise, not enough to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'*' * max(len(local) - 1, 2)}@{domain}"
