"""Broker events in, analytics facts out: pure functions, no database.

Rasa publishes each tracker event as ``{"sender_id": ..., **event.as_dict()}`` (rasa/core/tracker_store.py
``_stream_new_events``); the SQL broker stores it as JSON text in its ``events`` table, the Pika broker
sends the same JSON.  Only a few slot events carry facts (docs/analytics.md):

- ``turn_record`` (actions/turn_record.py, docs/tracker-budget.md): one customer turn;
- ``empathy_explanation``: set only on a turn whose decision escalates, with the decision's reasons;
- ``handoff_status``: how the latest handoff went; ``callback_status``: how a call-back request went;
- ``csat_answer``: ``{"score": 1-5, "comment": str | None}``, the customer's CSAT answer;
- ``experiment_exposure``: ``{"experiment": name, "variant": arm or "excluded"}``, once per
  conversation (actions/experiment_arm.py, docs/experiments.md).

Everything else (including the user's text) is only a sign that the conversation is alive, except
for the idle CSAT trigger (handoff/analytics/idle_csat.py): the bot's "anything else?" (an action
in ``ANYTHING_ELSE``), the customer's messages and the bot's other actions are its ``IdleSignal``.
Every event is hostile: a value of the wrong type or out of range drops that fact, never the batch.
"""

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final, Literal, TypeGuard

SLOT_TURN_RECORD: Final = "turn_record"
SLOT_EXPLANATION: Final = "empathy_explanation"
SLOT_HANDOFF_STATUS: Final = "handoff_status"
SLOT_CALLBACK_STATUS: Final = "callback_status"
SLOT_CSAT_ANSWER: Final = "csat_answer"
SLOT_EXPERIMENT_EXPOSURE: Final = "experiment_exposure"

# The decisions of bot/empathy/escalation.py that escalate, and the reason each gets when the
# explanation says nothing more (actions/handoff_payload.py ``_reason`` derives it the same way).
OFFER_HUMAN: Final = "offer_human"
OFFER_CALLBACK: Final = "offer_callback"
HANDOFF: Final = "handoff"
ESCALATING: Final = frozenset({OFFER_HUMAN, OFFER_CALLBACK, HANDOFF})
HANDOFF_STATUSES: Final = frozenset({"delivered", "queued", "rejected", "failed"})
EMOTION_ON: Final = "on"
EMOTION_OFF: Final = "off"

MAX_CONVERSATION_ID: Final = 255
MAX_CODE: Final = 64  # intents, outcomes, statuses: short codes
MAX_LABEL: Final = 32  # an emotion label (actions/turn_record.py MAX_EMOTION)
MAX_COMMENT: Final = 2000
MAX_TURN: Final = 1_000_000
# A broker row longer than this is not an event Rasa wrote (the biggest, a user event, is ≈2 KB).
MAX_EVENT_BYTES: Final = 1_000_000
# Timestamps outside these years are a broken clock or a hostile publisher, not a conversation.
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp()
LATEST: Final = datetime(2200, 1, 1, tzinfo=timezone.utc).timestamp()


@dataclass(frozen=True)
class Turn:
    turn: int
    intent: str | None
    confidence: float | None
    outcome: str | None
    tone: str | None
    decision: str | None
    emotion_processing: str
    frustration: float | None
    distress: float | None
    # The emotion model's top label (drift control, docs/drift.md); only with consent.
    emotion: str | None = None


@dataclass(frozen=True)
class Escalation:
    turn: int | None
    decision: str
    reason: str


@dataclass(frozen=True)
class HandoffStatus:
    status: str


@dataclass(frozen=True)
class Callback:
    status: str


@dataclass(frozen=True)
class Csat:
    score: int
    comment: str | None


@dataclass(frozen=True)
class Exposure:
    experiment: str
    variant: str


Fact = Turn | Escalation | HandoffStatus | Callback | Csat | Exposure


# The bot's "anything else?" after which silence means the conversation is resolved: the same two
# after which "no" starts the CSAT question (data/rules/rules.yml).
ANYTHING_ELSE: Final = frozenset({"utter_you_are_welcome", "utter_handback"})
# Actions that say nothing to the customer: they neither arm nor clear a candidate.
SILENT_ACTIONS: Final = frozenset({"action_listen", "action_session_start"})
# The intent the idle worker triggers (bot/constants.py CSAT_IDLE); Rasa marks such a user event external.
CSAT_IDLE_INTENT: Final = "EXTERNAL_csat_idle"
IS_EXTERNAL: Final = "is_external"

IdleKind = Literal["prompt", "customer", "bot"]
PROMPT: Final[IdleKind] = "prompt"
CUSTOMER: Final[IdleKind] = "customer"
BOT: Final[IdleKind] = "bot"


@dataclass(frozen=True)
class IdleSignal:
    """What an event means for the idle trigger: an "anything else?" (``prompt`` names it), a customer
    message, or another bot action.
    """

    kind: IdleKind
    prompt: str | None = None


@dataclass(frozen=True)
class Parsed:
    """One broker event: its conversation, when it happened, its dedup key, and the fact it carries."""

    conversation_id: str
    at: datetime
    event_key: str
    fact: Fact | None
    idle: IdleSignal | None = None


def event_key(data: str) -> str:
    """The event's identity across redeliveries: the same published JSON is the same event.

    Rasa's ``timestamp`` (microseconds) is inside it, so two events with equal content at different
    moments are different events.
    """
    return hashlib.sha256(data.encode("utf-8", "replace")).hexdigest()[:32]


def parse(data: str) -> Parsed | None:
    """The broker row's JSON text as one event; None when it is not a usable Rasa event."""
    if len(data) > MAX_EVENT_BYTES:
        return None
    try:
        event = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(event, dict):
        return None
    conversation = event.get("sender_id")
    at = _moment(event.get("timestamp"))
    if not _is_id(conversation) or at is None:
        return None
    fact = _fact(event) if event.get("event") == "slot" else None
    return Parsed(conversation, at, event_key(data), fact, idle_signal(event))


def idle_signal(event: dict[str, Any]) -> IdleSignal | None:
    """The event's meaning for the idle trigger; None for one that has none (slots, listening, a
    triggered intent: the idle trigger's own is not the customer writing).
    """
    kind = event.get("event")
    if kind == "user":
        metadata, parse = event.get("metadata"), event.get("parse_data")
        external = isinstance(metadata, dict) and metadata.get(IS_EXTERNAL) is True
        intent = parse.get("intent") if isinstance(parse, dict) else None
        triggered = isinstance(intent, dict) and intent.get("name") == CSAT_IDLE_INTENT
        return None if external or triggered else IdleSignal(CUSTOMER)
    if kind != "action":
        return None
    name = _code(event.get("name"))
    if name is None or name in SILENT_ACTIONS:
        return None
    return IdleSignal(PROMPT, name) if name in ANYTHING_ELSE else IdleSignal(BOT)


def _fact(event: dict[str, Any]) -> Fact | None:
    name, value = event.get("name"), event.get("value")
    if name == SLOT_TURN_RECORD:
        return _turn(value)
    if name == SLOT_EXPLANATION:
        return _escalation(value)
    if name == SLOT_HANDOFF_STATUS and value in HANDOFF_STATUSES:
        return HandoffStatus(str(value))
    if name == SLOT_CALLBACK_STATUS and _code(value) is not None:
        return Callback(str(value))
    if name == SLOT_CSAT_ANSWER:
        return _csat(value)
    if name == SLOT_EXPERIMENT_EXPOSURE:
        return _exposure(value)
    return None


def _exposure(value: Any) -> Exposure | None:
    if not isinstance(value, dict):
        return None
    experiment, variant = _code(value.get("experiment")), _code(value.get("variant"))
    if experiment is None or variant is None:
        return None
    return Exposure(experiment, variant)


def _turn(record: Any) -> Turn | None:
    if not isinstance(record, dict) or _int(record.get("turn"), 1, MAX_TURN) is None:
        return None
    consent = record.get("emotion_processing") == EMOTION_ON
    return Turn(
        turn=int(record["turn"]),
        intent=_code(record.get("intent")),
        confidence=_score(record.get("confidence")),
        outcome=_code(record.get("outcome")),
        tone=_code(record.get("tone")),
        decision=_code(record.get("decision")),
        emotion_processing=EMOTION_ON if consent else EMOTION_OFF,
        # Without consent a record carries no scores; one that does anyway is not believed.
        frustration=_score(record.get("frustration")) if consent else None,
        distress=_score(record.get("distress")) if consent else None,
        emotion=_label(record.get("emotion")) if consent else None,
    )


def _escalation(explanation: Any) -> Escalation | None:
    if not isinstance(explanation, dict) or not isinstance(explanation.get("decision"), dict):
        return None
    decision = explanation["decision"]
    kind = decision.get("decision")
    if kind not in ESCALATING:
        return None
    reasons = decision.get("reasons")
    words = " ".join(str(r) for r in reasons) if isinstance(reasons, list) else ""
    return Escalation(
        turn=_int(decision.get("turn"), 1, MAX_TURN) or _int(explanation.get("turn"), 1, MAX_TURN),
        decision=str(kind),
        reason=reason_of(str(kind), words),
    )


def reason_of(decision: str, reasons: str) -> str:
    """One of the handoff contract's REASONS (handoff/shared/payload_contract.py), as
    actions/handoff_payload.py ``_reason`` gives it.
    """
    if decision == HANDOFF:
        reason = "customer_request"
    elif decision == OFFER_CALLBACK:
        reason = "distress"
    else:
        reason = "frustration" if "frustration" in reasons else "failed_self_service"
    return reason


def _csat(answer: Any) -> Csat | None:
    if not isinstance(answer, dict):
        return None
    score = _int(answer.get("score"), 1, 5)
    comment = answer.get("comment")
    if score is None or not (comment is None or isinstance(comment, str)):
        return None
    text = _clean_text(comment)[:MAX_COMMENT] if comment else ""
    return Csat(score, text or None)


def _moment(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if not EARLIEST <= value < LATEST:
        return None
    return datetime.fromtimestamp(value, timezone.utc)


def _is_id(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_CONVERSATION_ID and value.isprintable()


def _label(value: Any) -> str | None:
    """An emotion label: a code of at most MAX_LABEL characters, as the turn record writes it."""
    code = _code(value)
    return code if code is not None and len(code) <= MAX_LABEL else None


def _code(value: Any) -> str | None:
    """A short printable code (an intent, an outcome, a tone, a status); anything else is None."""
    if isinstance(value, str) and 0 < len(value) <= MAX_CODE and value.isprintable():
        return value
    return None


def _score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value) if 0.0 <= value <= 1.0 else None


def _int(value: Any, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if low <= value <= high else None


def _clean_text(text: str) -> str:
    """The comment without control characters (newlines kept) or lone surrogates."""
    kept = "".join(c for c in text if c in "\n\t" or c.isprintable())
    return kept.encode("utf-8", "replace").decode("utf-8").strip()
