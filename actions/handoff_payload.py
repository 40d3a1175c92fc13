"""Builds the handoff payload (handoff/shared/payload_contract.py) from a conversation's tracker.

Everything comes from what the conversation recorded: the empathy engine's explanation events
(one per customer turn), the self-service log, intents from the parse data and the transcript.
The summary and the recommended approach are written from that state with templates: no model,
nothing an agent cannot check against the transcript.
"""

import hashlib
import hmac
import os
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Tracker

from actions.consent import gate_answer, known_customer
from actions.outcomes import mask_email
from bot.constants import (
    PARSE_EMOTION,
    SLOT_EMAIL,
    SLOT_EMOTION_OPT_OUT,
    SLOT_EMPATHY_EXPLANATION,
    SLOT_ORDER_ID,
    SLOT_PROBLEM,
    SLOT_SELF_SERVICE_LOG,
    SLOT_TONE,
    SLOT_TOPIC,
)
from handoff.shared.payload_contract import (
    SCHEMA_VERSION,
    Attempt,
    EmotionProcessing,
    EmotionReading,
    HandoffPayload,
    IntentTurn,
    TrajectoryPoint,
    TranscriptLine,
    Trigger,
)

ESCALATIONS = ("handoff", "offer_human", "offer_callback")
TOPIC_WORDS = {
    "order_status": "where an order is",
    "delivery_problem": "a delivery problem",
    "return_or_refund": "a return or refund",
    "refund_status": "a refund",
    "billing_issue": "a charge",
    "cancel_subscription": "cancelling Pine+",
    "account_access": "getting into their account",
}


def _iso(timestamp: Any) -> str | None:
    if not isinstance(timestamp, (int, float)):
        return None
    return datetime.fromtimestamp(float(timestamp), timezone.utc).isoformat()


def pseudonym(key: str) -> str:
    """A stable pseudonym: the same customer maps to the same id, which does not reveal who they are."""
    salt = os.environ.get("ATTUNE_PSEUDONYM_SALT", "attune-demo-salt").encode()
    return "cust-" + hmac.new(salt, key.encode(), hashlib.sha256).hexdigest()[:16]


def customer_pseudonym(tracker: Tracker, event: dict[str, Any]) -> str:
    """Who the handoff and the audit log say the customer is.

    The handoff service's customer id when the consent gate resolved one (handoff/privacy/customers.py),
    else a pseudonym of the verified or given customer, or of this conversation.  Never of a
    ``customer_id`` a client put in the metadata: that would file this conversation under
    somebody else's record.
    """
    customer = gate_answer(event).customer
    return customer or pseudonym(known_customer(tracker, event) or tracker.sender_id)


def explanations(tracker: Tracker) -> list[dict[str, Any]]:
    """The empathy engine's per-turn explanations, oldest first."""
    return [
        e["value"]
        for e in tracker.events
        if e.get("event") == "slot"
        and e.get("name") == SLOT_EMPATHY_EXPLANATION
        and isinstance(e.get("value"), dict)
    ]


def trigger_of(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The latest escalation decision (the one this handoff answers)."""
    for explanation in reversed(history):
        decision = explanation.get("decision") or {}
        if decision.get("decision") in ESCALATIONS:
            return {**decision, "_explanation": explanation}
    return None


def _top_signals(explanation: dict[str, Any], n: int = 3) -> list[str]:
    contributions = (explanation.get("frustration") or {}).get("contributions") or {}
    ranked = sorted(contributions.items(), key=lambda kv: -float(kv[1].get("contribution", 0)))
    return [name for name, value in ranked[:n] if float(value.get("contribution", 0)) > 0]


def _attempt(entry: dict[str, Any]) -> Attempt:
    topic = entry.get("topic")
    return {
        "asked": str(entry.get("asked") or ""),
        "topic": topic if isinstance(topic, str) else None,
        "tried": str(entry.get("tried") or ""),
        "outcome": str(entry.get("outcome") or ""),
        "why": str(entry.get("why") or ""),
    }


def _reading(turn: int, event: dict[str, Any]) -> EmotionReading | None:
    """The emotion model's reading of one customer message, as the payload carries it."""
    reading = (event.get("parse_data") or {}).get(PARSE_EMOTION)
    if not isinstance(reading, dict) or not reading.get("top"):
        return None
    probabilities = reading.get("probabilities") or {}
    return {
        "turn": turn,
        "text": str(event.get("text") or ""),
        "top": str(reading["top"]),
        "probabilities": {str(k): round(float(v), 4) for k, v in probabilities.items()},
    }


def _reason(trigger: dict[str, Any] | None) -> str:
    if trigger is None or trigger.get("decision") == "handoff":
        return "customer_request"
    if trigger.get("decision") == "offer_callback":
        return "distress"
    reasons = " ".join(trigger.get("reasons") or [])
    return "frustration" if "frustration" in reasons else "failed_self_service"


def build_payload(tracker: Tracker, now: datetime | None = None) -> HandoffPayload:
    """The handoff payload for this conversation, answering its latest escalation decision."""
    opted_out = bool(tracker.get_slot(SLOT_EMOTION_OPT_OUT))
    history = explanations(tracker)
    trigger = trigger_of(history)
    user_events = [e for e in tracker.events if e.get("event") == "user"]
    latest = user_events[-1] if user_events else {}
    attempts = _failed_attempts(tracker)
    decision_turn = int(trigger.get("turn", 0)) if trigger else len(user_events)

    payload: HandoffPayload = {
        "schema_version": SCHEMA_VERSION,
        "idempotency_key": _idempotency_key(tracker.sender_id, decision_turn, trigger),
        "conversation_id": tracker.sender_id,
        "customer": _customer(tracker, latest),
        "channel": str(latest.get("input_channel") or "unknown"),
        "created_at": (now or datetime.now(timezone.utc)).isoformat(),
        "reason": _reason(trigger),
        "priority": str(trigger.get("priority", "normal")) if trigger else "normal",
        "trigger": _trigger(trigger, decision_turn),
        "emotion_processing": _emotion_processing(opted_out),
        "intents": [_intent(n, e) for n, e in enumerate(user_events, 1)],
        "failed_attempts": [_attempt(a) for a in attempts],
        "slots": {
            "order_id": tracker.get_slot(SLOT_ORDER_ID),
            "topic": tracker.get_slot(SLOT_TOPIC),
            "problem": tracker.get_slot(SLOT_PROBLEM),
        },
        "summary": summary(tracker, user_events, attempts, history, opted_out),
        "recommended_approach": approach(tracker, trigger, attempts, history, opted_out),
        "transcript": _transcript(tracker),
        "callback": {
            "requested": bool(trigger and trigger.get("decision") == "offer_callback"),
            "phone_masked": None,
        },
    }
    if not opted_out:
        _add_emotional_data(payload, tracker, history, trigger, user_events)
    return payload


def _failed_attempts(tracker: Tracker) -> list[dict[str, Any]]:
    """The self-service log's failed attempts, oldest first."""
    log = tracker.get_slot(SLOT_SELF_SERVICE_LOG) or []
    return [a for a in log if isinstance(a, dict) and a.get("failed")]


def _idempotency_key(conversation_id: str, decision_turn: int, trigger: dict[str, Any] | None) -> str:
    """The same decision in the same conversation always gets the same key."""
    source = f"{conversation_id}|{decision_turn}|{trigger.get('decision') if trigger else 'handoff'}"
    return hashlib.sha256(source.encode()).hexdigest()[:40]


def _customer(tracker: Tracker, latest: dict[str, Any]) -> dict[str, str | None]:
    email = tracker.get_slot(SLOT_EMAIL)
    return {
        "pseudonym": customer_pseudonym(tracker, latest),
        "email_masked": mask_email(str(email)) if email else None,
    }


def _trigger(trigger: dict[str, Any] | None, decision_turn: int) -> Trigger:
    """The decision this handoff answers; with none recorded, the customer accepted a person."""
    if not trigger:
        return {"decision": "handoff", "reasons": ["the customer accepted a person"], "turn": decision_turn}
    return {
        "decision": str(trigger.get("decision")),
        "reasons": [str(r) for r in trigger.get("reasons", [])],
        "turn": decision_turn,
    }


def _emotion_processing(opted_out: bool) -> EmotionProcessing:
    if opted_out:
        return {
            "enabled": False,
            "note": "The customer opted out of emotion analysis: no emotional data is included.",
        }
    return {
        "enabled": True,
        "note": "Scores from Attune's empathy engine; each turn's explanation lists its signals.",
    }


def _intent(turn: int, event: dict[str, Any]) -> IntentTurn:
    intent = (event.get("parse_data") or {}).get("intent") or {}
    return {
        "turn": turn,
        "intent": str(intent.get("name") or "unknown"),
        "confidence": round(float(intent.get("confidence") or 0), 4),
    }


def _transcript(tracker: Tracker) -> list[TranscriptLine]:
    """What the customer and the bot said, in order (the bot's events without text left out)."""
    return [
        {
            "speaker": "customer" if e["event"] == "user" else "bot",
            "text": str(e.get("text") or ""),
            "at": _iso(e.get("timestamp")),
        }
        for e in tracker.events
        if e.get("event") in ("user", "bot") and (e.get("text") or e["event"] == "user")
    ]


def _trajectory_point(turn: int, explanation: dict[str, Any]) -> TrajectoryPoint:
    return {
        "turn": int(explanation.get("turn", turn)),
        "frustration": float((explanation.get("frustration") or {}).get("score", 0.0)),
        "distress": float((explanation.get("distress") or {}).get("score", 0.0)),
        "top_signals": _top_signals(explanation),
    }


def _add_emotional_data(
    payload: HandoffPayload,
    tracker: Tracker,
    history: list[dict[str, Any]],
    trigger: dict[str, Any] | None,
    user_events: list[dict[str, Any]],
) -> None:
    """Scores, tone, emotion readings and the decision's explanation (never for a customer who opted out)."""
    payload["trajectory"] = [
        _trajectory_point(n, x) for n, x in enumerate(history, 1) if not x.get("opted_out")
    ]
    payload["tone"] = str(tracker.get_slot(SLOT_TONE) or "neutral")
    readings = (_reading(n, e) for n, e in enumerate(user_events, 1))
    payload["emotions"] = [r for r in readings if r is not None]
    if trigger:
        payload["explanation"] = trigger["_explanation"]


def _feeling(history: list[dict[str, Any]]) -> str:
    if not history or history[-1].get("opted_out"):
        return ""
    last = history[-1]
    frustration = float((last.get("frustration") or {}).get("score", 0))
    distress = float((last.get("distress") or {}).get("score", 0))
    if distress >= 0.5:
        return "They sound distressed."
    if frustration >= 0.6:
        return "They are very frustrated."
    if frustration >= 0.25:
        return "They are getting frustrated."
    return "They sound calm."


def summary(
    tracker: Tracker,
    user_events: list[dict[str, Any]],
    attempts: list[dict[str, Any]],
    history: list[dict[str, Any]],
    opted_out: bool,
) -> str:
    topic = tracker.get_slot(SLOT_TOPIC)
    first = next((str(e.get("text")) for e in user_events if e.get("text")), "")
    parts = [f"Customer wants help with {TOPIC_WORDS.get(str(topic), 'their request')}."]
    if first:
        parts.append(f"First message: \u201c{first[:200]}\u201d.")
    order_id = tracker.get_slot(SLOT_ORDER_ID)
    if order_id:
        parts.append(f"Order {order_id}.")
    if attempts:
        reasons = "; ".join(dict.fromkeys(str(a.get("why")) for a in attempts))
        parts.append(f"Self-service failed {len(attempts)} time(s): {reasons}.")
    if not opted_out:
        parts.append(_feeling(history))
    return " ".join(p for p in parts if p)


def approach(
    tracker: Tracker,
    trigger: dict[str, Any] | None,
    attempts: list[dict[str, Any]],
    history: list[dict[str, Any]],
    opted_out: bool,
) -> list[str]:
    steps = []
    if attempts:
        steps.append(f"Apologise for the repeated failure ({attempts[-1].get('why')}).")
    order_id = tracker.get_slot(SLOT_ORDER_ID)
    if order_id:
        steps.append(f"Don't ask for the order number again: it is {order_id}.")
    elif tracker.get_slot(SLOT_EMAIL):
        steps.append("Don't ask for the e-mail address again: it is in the conversation.")
    if trigger and trigger.get("decision") == "handoff":
        steps.append("They asked for a person: introduce yourself by name.")
    if opted_out:
        steps.append("They opted out of emotion analysis: don't comment on their mood.")
    elif history:
        last = history[-1]
        if float((last.get("distress") or {}).get("score", 0)) >= 0.5:
            steps.append("Check they are safe first and offer a phone call.")
        elif float((last.get("frustration") or {}).get("score", 0)) >= 0.6:
            steps.append("Be brief and direct: say what you will do and by when.")
    return steps or ["Greet them and confirm what they need."]
