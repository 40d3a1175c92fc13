"""Builds the handoff payload (handoff/contract.py) from a conversation's tracker.

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
from bot import constants as c
from handoff.contract import SCHEMA_VERSION, Attempt, EmotionReading, HandoffPayload

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

    The handoff service's customer id when the consent gate resolved one (handoff/customers.py),
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
        and e.get("name") == c.SLOT_EMPATHY_EXPLANATION
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
    reading = (event.get("parse_data") or {}).get(c.PARSE_EMOTION)
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
    opted_out = bool(tracker.get_slot(c.SLOT_EMOTION_OPT_OUT))
    history = explanations(tracker)
    trigger = trigger_of(history)
    user_events = [e for e in tracker.events if e.get("event") == "user"]
    latest = user_events[-1] if user_events else {}
    email = tracker.get_slot(c.SLOT_EMAIL)
    attempts = [
        a for a in tracker.get_slot(c.SLOT_SELF_SERVICE_LOG) or [] if isinstance(a, dict) and a.get("failed")
    ]
    decision_turn = int(trigger.get("turn", 0)) if trigger else len(user_events)
    key_source = f"{tracker.sender_id}|{decision_turn}|{trigger.get('decision') if trigger else 'handoff'}"

    payload: HandoffPayload = {
        "schema_version": SCHEMA_VERSION,
        "idempotency_key": hashlib.sha256(key_source.encode()).hexdigest()[:40],
        "conversation_id": tracker.sender_id,
        "customer": {
            "pseudonym": customer_pseudonym(tracker, latest),
            "email_masked": mask_email(str(email)) if email else None,
        },
        "channel": str(latest.get("input_channel") or "unknown"),
        "created_at": (now or datetime.now(timezone.utc)).isoformat(),
        "reason": _reason(trigger),
        "priority": str(trigger.get("priority", "normal")) if trigger else "normal",
        "trigger": {
            "decision": str(trigger.get("decision")) if trigger else "handoff",
            "reasons": [str(r) for r in trigger.get("reasons", [])]
            if trigger
            else ["the customer accepted a person"],
            "turn": decision_turn,
        },
        "emotion_processing": {
            "enabled": not opted_out,
            "note": "The customer opted out of emotion analysis: no emotional data is included."
            if opted_out
            else "Scores from Attune's empathy engine; each turn's explanation lists its signals.",
        },
        "intents": [
            {
                "turn": n,
                "intent": str(((e.get("parse_data") or {}).get("intent") or {}).get("name") or "unknown"),
                "confidence": round(
                    float(((e.get("parse_data") or {}).get("intent") or {}).get("confidence") or 0), 4
                ),
            }
            for n, e in enumerate(user_events, 1)
        ],
        "failed_attempts": [_attempt(a) for a in attempts],
        "slots": {
            "order_id": tracker.get_slot(c.SLOT_ORDER_ID),
            "topic": tracker.get_slot(c.SLOT_TOPIC),
            "problem": tracker.get_slot(c.SLOT_PROBLEM),
        },
        "summary": summary(tracker, user_events, attempts, history, opted_out),
        "recommended_approach": approach(tracker, trigger, attempts, history, opted_out),
        "transcript": [
            {
                "speaker": "customer" if e["event"] == "user" else "bot",
                "text": str(e.get("text") or ""),
                "at": _iso(e.get("timestamp")),
            }
            for e in tracker.events
            if e.get("event") in ("user", "bot") and (e.get("text") or e["event"] == "user")
        ],
        "callback": {
            "requested": bool(trigger and trigger.get("decision") == "offer_callback"),
            "phone_masked": None,
        },
    }
    if not opted_out:
        payload["trajectory"] = [
            {
                "turn": int(x.get("turn", n)),
                "frustration": float((x.get("frustration") or {}).get("score", 0.0)),
                "distress": float((x.get("distress") or {}).get("score", 0.0)),
                "top_signals": _top_signals(x),
            }
            for n, x in enumerate(history, 1)
            if not x.get("opted_out")
        ]
        payload["tone"] = str(tracker.get_slot(c.SLOT_TONE) or "neutral")
        readings = (_reading(n, e) for n, e in enumerate(user_events, 1))
        payload["emotions"] = [r for r in readings if r is not None]
        if trigger:
            payload["explanation"] = trigger["_explanation"]
    return payload


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
    topic = tracker.get_slot(c.SLOT_TOPIC)
    first = next((str(e.get("text")) for e in user_events if e.get("text")), "")
    parts = [f"Customer wants help with {TOPIC_WORDS.get(str(topic), 'their request')}."]
    if first:
        parts.append(f"First message: \u201c{first[:200]}\u201d.")
    order_id = tracker.get_slot(c.SLOT_ORDER_ID)
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
    order_id = tracker.get_slot(c.SLOT_ORDER_ID)
    if order_id:
        steps.append(f"Don't ask for the order number again: it is {order_id}.")
    elif tracker.get_slot(c.SLOT_EMAIL):
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
