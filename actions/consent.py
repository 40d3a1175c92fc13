"""What the channels' consent gate said about the latest message (bot/components/consent_gate.py).

The gate writes ``metadata.attune`` on every message: the customer's cross-channel id, their
choice about emotion processing ("on", "off", or "unknown" when the handoff service could not be
asked), the identities it used and, when a valid identity token came, the verified claims
(``verified: {"id", "phone"?, "email"?}``).  The actions read it from here; a value a client tried
to put there itself is replaced by the gate before Rasa sees the message.

Nothing else in a message's metadata says who the customer is: ``customer_id`` or ``customer``
keys are whatever a client chose to send (issue 13), so no action reads them.
"""

from dataclasses import dataclass
from typing import Any

from rasa_sdk import Tracker

from bot.constants import SLOT_EMAIL, SLOT_EMOTION_OPT_OUT

METADATA_KEY = "attune"


@dataclass(frozen=True)
class GateAnswer:
    customer: str | None
    emotion_processing: str  # on | off | unknown (no gate: "unknown")
    identities: list[dict[str, str]]
    verified_id: str | None = None  # the ``sub`` of a valid identity token


def latest_user_event(tracker: Tracker) -> dict[str, Any]:
    return next((e for e in reversed(tracker.events) if e.get("event") == "user"), {})


def gate_answer(event: dict[str, Any]) -> GateAnswer:
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    gate = (metadata or {}).get(METADATA_KEY)
    if not isinstance(gate, dict):
        return GateAnswer(None, "unknown", [])
    identities = [i for i in gate.get("identities") or [] if isinstance(i, dict)]
    customer = gate.get("customer")
    verified = gate.get("verified")
    verified_id = verified.get("id") if isinstance(verified, dict) else None
    return GateAnswer(
        str(customer) if customer else None,
        str(gate.get("emotion_processing") or "unknown"),
        identities,
        str(verified_id) if verified_id else None,
    )


def known_customer(tracker: Tracker, event: dict[str, Any]) -> str | None:
    """Who the customer is across conversations, or None when nothing says so.

    What the Rasa server verified comes first: the handoff service's customer id (the gate
    resolved it from the Twilio number, a signed token or the server-issued session), then the
    verified token's customer id (when the service could not be asked); else the e-mail address
    given in the conversation, as before.
    """
    answer = gate_answer(event)
    email = tracker.get_slot(SLOT_EMAIL)
    return answer.customer or answer.verified_id or (str(email) if email else None)


def opted_out(tracker: Tracker, event: dict[str, Any]) -> bool:
    """The gate's answer when it has one; otherwise what this conversation last knew."""
    answer = gate_answer(event).emotion_processing
    if answer in ("on", "off"):
        return answer == "off"
    return bool(tracker.get_slot(SLOT_EMOTION_OPT_OUT))
