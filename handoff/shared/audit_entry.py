"""What an audit entry is: its fields, their checks, and its form without emotional data.

handoff/audit/audit_log.py puts entries in the chain; this module only says what a valid one looks like,
for the API (``parse_entry``, InvalidRequest naming the field at fault) and for the service's own
entries (handoff/audit/audit_events.py).  An entry for a customer who opted out of emotion analysis
holds no emotional data: ``strip_emotional`` removes scores, signals, emotion readings, tones and
any text stating a score, whatever the writer sent.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from handoff.shared.errors import InvalidRequest
from handoff.shared.payload_contract import is_id, parse_date_time

ENGINE_KINDS = ("tone_change", "offer_human", "offer_callback", "handoff")
SERVICE_KINDS = (
    "handoff_accepted",
    "callback_scheduled",
    "callback_placed",
    "callback_status",
    "erasure",
    "retention",
    "customer_merge",
    "customer_merge_undone",
    "console_login_failed",
    "agent_added",
    "agent_password_reset",
    "agent_disabled",
    "handoff_transferred",
    "empathy_policy_saved",
)
KINDS = ENGINE_KINDS + SERVICE_KINDS
ENGINE_ACTOR, SERVICE_ACTOR = "empathy engine", "handoff service"
ACTORS = (ENGINE_ACTOR, SERVICE_ACTOR)
# Who changed a console account: the person at the `attune agents` command (not an API writer).
OPERATOR_ACTOR = "operator (attune agents)"
MAX_JSON_CHARS = 64_000
# The last second of 9999: later Unix times are no datetime.
MAX_TIMESTAMP = 253_402_300_799
# Keys that hold emotional data anywhere in an entry's explanation or inputs.
EMOTIONAL_KEYS = frozenset(
    {
        "frustration",
        "distress",
        "emotion",
        "emotions",
        "probabilities",
        "trajectory",
        "contributions",
        "tone",
        "previous_tone",
    }
)
# Text that states a score ("frustration 0.65 >= 0.6"): dropped whole.
_SCORE_TEXT = re.compile(r"\b(frustration|distress|emotion)\w*\b[^.;\n]{0,40}?\d", re.IGNORECASE)
WITHHELD = "[withheld: the customer opted out of emotion analysis]"
WITHHELD_FOR_ROLE = "[withheld: distress indicators are not shown to your role]"


@dataclass(frozen=True)
class NewEntry:
    """A validated entry, before it gets its place in the chain."""

    key: str
    conversation_id: str
    customer: str | None
    kind: str
    actor: str
    summary: str
    explanation: dict[str, Any]
    inputs: dict[str, Any]
    sources: tuple[str, ...]
    opted_out: bool
    created_at: datetime

    def to_document(self) -> dict[str, Any]:
        """The entry as ``POST /api/v1/audit`` takes it: ``parse_entry`` reads it back unchanged."""
        return {
            "key": self.key,
            "conversation_id": self.conversation_id,
            "customer": self.customer,
            "kind": self.kind,
            "actor": self.actor,
            "summary": self.summary,
            "explanation": self.explanation,
            "inputs": self.inputs,
            "sources": list(self.sources),
            "opted_out": self.opted_out,
            "created_at": self.created_at.isoformat(),
        }

    def body(self) -> dict[str, Any]:
        """What the entry says about the customer: hashed on its own, so it can be erased."""
        return {
            "conversation_id": self.conversation_id,
            "customer": self.customer,
            "summary": self.summary,
            "explanation": self.explanation,
            "inputs": self.inputs,
            "sources": list(self.sources),
        }


def canonical(value: Any) -> str:
    """The one JSON text of a value: what the hashes are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def strip_emotional(entry: NewEntry, opted_out: bool = True) -> NewEntry:
    """The entry without emotional data: for customers who opted out of emotion analysis (and, with
    ``opted_out=False``, as shown to a role that may not see distress indicators).
    """
    note = WITHHELD if opted_out else WITHHELD_FOR_ROLE
    summary = entry.summary
    if _SCORE_TEXT.search(summary):
        summary = f"{entry.kind.replace('_', ' ')} {note}"
    return NewEntry(
        key=entry.key,
        conversation_id=entry.conversation_id,
        customer=entry.customer,
        kind=entry.kind,
        actor=entry.actor,
        summary=summary,
        explanation=_without_emotion(entry.explanation, note),
        inputs=_without_emotion(entry.inputs, note),
        sources=entry.sources,
        opted_out=opted_out,
        created_at=entry.created_at,
    )


def _without_emotion(value: Any, note: str) -> Any:
    if isinstance(value, dict):
        return {k: _without_emotion(v, note) for k, v in value.items() if k not in EMOTIONAL_KEYS}
    if isinstance(value, list):
        return [
            _without_emotion(v, note) for v in value if not (isinstance(v, str) and _SCORE_TEXT.search(v))
        ]
    if isinstance(value, str) and _SCORE_TEXT.search(value):
        return note
    return value


# --- checking what a writer sent ---------------------------------------------------------
def _text(document: dict[str, Any], name: str, limit: int, required: bool = True) -> str | None:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{name} must be a non-empty string")
    if len(value) > limit:
        raise InvalidRequest(f"{name} must be at most {limit} characters")
    if "\x00" in value:
        raise InvalidRequest(f"{name} may not contain NUL characters")
    return value


def _id(document: dict[str, Any], name: str, limit: int, required: bool = True) -> str | None:
    value = _text(document, name, limit, required)
    if value is not None and not is_id(value, limit):
        raise InvalidRequest(f"{name} may not contain control characters or line breaks")
    return value


def _json_object(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name, {})
    if not isinstance(value, dict):
        raise InvalidRequest(f"{name} must be a JSON object")
    try:
        size = len(canonical(value))
    except ValueError as error:
        raise InvalidRequest(f"{name} holds a value JSON cannot carry exactly ({error})") from error
    if size > MAX_JSON_CHARS:
        raise InvalidRequest(f"{name} must be at most {MAX_JSON_CHARS} characters of JSON")
    return value


def _moment(document: dict[str, Any]) -> datetime:
    value = document.get("created_at")
    if value is None:
        return datetime.now(timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not 0 <= value <= MAX_TIMESTAMP:
            raise InvalidRequest(f"created_at as a Unix time must be from 0 to {MAX_TIMESTAMP}")
        return datetime.fromtimestamp(float(value), timezone.utc)
    if not isinstance(value, str):
        raise InvalidRequest("created_at must be an RFC 3339 time with its offset, or a Unix time")
    try:
        return parse_date_time(value)
    except ValueError as error:
        raise InvalidRequest(f"created_at must be an RFC 3339 time with its offset: {error}") from error


def parse_entry(
    document: object, kinds: tuple[str, ...] = KINDS, actors: tuple[str, ...] = ACTORS
) -> NewEntry:
    """A ``NewEntry`` from a JSON document, or InvalidRequest naming the field at fault."""
    if not isinstance(document, dict):
        raise InvalidRequest("send one audit entry as a JSON object")
    kind = _text(document, "kind", 32)
    if kind not in kinds:
        raise InvalidRequest(f"kind must be one of {', '.join(kinds)}")
    actor = _text(document, "actor", 32)
    if actor not in actors:
        raise InvalidRequest(f"actor must be one of {', '.join(actors)}")
    sources = document.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) and len(s) <= 200 for s in sources):
        raise InvalidRequest("sources must be a list of strings (each at most 200 characters)")
    opted_out = document.get("opted_out", False)
    if not isinstance(opted_out, bool):
        raise InvalidRequest("opted_out must be true or false")
    return NewEntry(
        key=str(_id(document, "key", 128)),
        conversation_id=str(_id(document, "conversation_id", 255)),
        customer=_id(document, "customer", 64, required=False),
        kind=str(kind),
        actor=str(actor),
        summary=str(_text(document, "summary", 2000)),
        explanation=_json_object(document, "explanation"),
        inputs=_json_object(document, "inputs"),
        sources=tuple(sources),
        opted_out=opted_out,
        created_at=_moment(document),
    )
