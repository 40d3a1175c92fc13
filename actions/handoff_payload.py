"""Builds the handoff payload (handoff/shared/payload_contract.py) from a conversation's tracker.

Everything comes from what the conversation recorded: the empathy engine's turn records (one per
customer turn, actions/turn_record.py) and explanations (kept on the turns that changed the tone
or escalated), the self-service attempts, intents from the parse data and the transcript.
Conversations stored before issue 18 (an explanation every turn, a self-service log slot) read
the same.
The summary and the recommended approach are written from that state with templates: no model,
nothing an agent cannot check against the transcript.

They are written from the trigger turn (the customer message whose decision caused the handoff) and
the peak of each trajectory, with the thresholds of the empathy policy (policy/empathy.yml): a
handoff the call-back form sends several turns after a distressed message still says the customer
was distressed.  Everything an agent reads is in plain words: no action or intent names, and a
button the customer tapped is shown as the words on it.
"""

import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from rasa_sdk import Tracker

from actions import turn_record
from actions.consent import gate_answer, known_customer
from actions.outcomes import mask_email
from bot.constants import (
    PARSE_EMOTION,
    PARSE_LANGUAGE,
    SLOT_EMAIL,
    SLOT_EMOTION_OPT_OUT,
    SLOT_EMPATHY_EXPLANATION,
    SLOT_ORDER_ID,
    SLOT_PROBLEM,
    SLOT_SELF_SERVICE_ATTEMPT,
    SLOT_SELF_SERVICE_LOG,
    SLOT_TONE,
    SLOT_TOPIC,
    SLOT_TURN_RECORD,
)
from bot.empathy.escalation import HANDOFF, OFFER_CALLBACK, OFFER_HUMAN
from bot.empathy.policy import EmpathyPolicy
from handoff.shared.payload_contract import (
    LANGUAGE_PATTERN,
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

ESCALATIONS = (HANDOFF, OFFER_HUMAN, OFFER_CALLBACK)
TOPIC_WORDS = {
    "order_status": "where an order is",
    "delivery_problem": "a delivery problem",
    "return_or_refund": "a return or refund",
    "refund_status": "a refund",
    "billing_issue": "a charge",
    "cancel_subscription": "cancelling Pine+",
    "account_access": "getting into their account",
    "request_callback": "a phone call-back",
    "complain": "a complaint",
}
# What the bot did, in the words the agent reads (the self-service log names the action).
ACTION_WORDS: Final = {
    "action_lookup": "Looked up",
    "action_confirm_cancellation": "Tried to cancel Pine+ for",
    "action_keep_subscription": "Tried to keep Pine+ for",
    "action_stop_verification": "Stopped checking who they are for",
    "validate_account_form": "Checked the account details for",
    "action_request_callback": "Tried to book a call-back for",
}
_INTERNAL_NAME: Final = re.compile(r"\b(?:action|validate|utter)_[a-z0-9_]+\b")
# A button tapped: its payload, shown as the words on the button.  When the tracker does not hold
# the message with the buttons, these plain words stand in (the intent's own words otherwise).
PAYLOAD_WORDS: Final = {
    "/affirm": "Yes",
    "/deny": "No",
    "/request_human": "Talk to a person",
    "/request_callback": "Call me back",
    "/opt_out_emotion": "Turn off emotion analysis",
    "/opt_in_emotion": "Turn on emotion analysis",
    "/ask_privacy": "How is my data used?",
    "/goodbye": "Goodbye",
    "/thank": "Thanks",
}
# Messages that say nothing about the problem: the summary quotes the request before them.
_NOT_THE_REQUEST: Final = frozenset({"greet", "affirm", "deny", "thank", "goodbye"})
MAX_QUOTE_CHARS: Final = 200
UNDETERMINED: Final = "und"  # BCP 47: the detector could not tell (bot/components/language_detector.py)
_LANGUAGE_CODE: Final = re.compile(LANGUAGE_PATTERN)  # a BCP 47 tag: "en", "es", "pt-BR"


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


@dataclass(frozen=True)
class Turn:
    """One scored customer turn: its scores (none with emotion analysis off) and the message scored."""

    number: int
    frustration: float
    distress: float
    signals: list[str]
    opted_out: bool
    message: dict[str, Any]

    def score(self, kind: str) -> float:
        return self.frustration if kind == "frustration" else self.distress

    @classmethod
    def of_record(cls, record: dict[str, Any], message: dict[str, Any]) -> "Turn":
        signals = record.get("signals")
        return cls(
            number=_int(record.get("turn")),
            frustration=_float(record.get("frustration")),
            distress=_float(record.get("distress")),
            signals=[str(s) for s in signals] if isinstance(signals, list) else [],
            opted_out=record.get("emotion_processing") != turn_record.ON,
            message=message,
        )

    @classmethod
    def of_explanation(cls, explanation: dict[str, Any], message: dict[str, Any]) -> "Turn":
        """A turn of a conversation stored before issue 18 (an explanation every turn, no record)."""
        return cls(
            number=_int(explanation.get("turn")),
            frustration=_float((explanation.get("frustration") or {}).get("score")),
            distress=_float((explanation.get("distress") or {}).get("score")),
            signals=turn_record.top_signals(explanation),
            opted_out=bool(explanation.get("opted_out")),
            message=message,
        )


def _int(value: object) -> int:
    return int(value) if isinstance(value, (int, float)) else 0


def _float(value: object) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def scored_turns(tracker: Tracker) -> list[Turn]:
    """Each turn record with the customer message before it (the message it scored), oldest first.

    A conversation with no records was stored before them: its explanations stand in.
    """
    by_record: list[Turn] = []
    by_explanation: list[Turn] = []
    message: dict[str, Any] = {}
    for event in tracker.events:
        kind, value = event.get("event"), event.get("value")
        if kind == "user":
            message = event
        elif kind == "slot" and isinstance(value, dict):
            if event.get("name") == SLOT_TURN_RECORD:
                by_record.append(Turn.of_record(value, message))
            elif event.get("name") == SLOT_EMPATHY_EXPLANATION:
                by_explanation.append(Turn.of_explanation(value, message))
    return by_record or by_explanation


@dataclass(frozen=True)
class Peak:
    """The highest score of one trajectory, and the turn it was reached."""

    score: float = 0.0
    turn: int = 0


def peak(turns: list[Turn], kind: str) -> Peak:
    """The peak of ``kind`` ("frustration" or "distress") over the scored turns (opted-out ones have none)."""
    scored = [t for t in turns if not t.opted_out]
    if not scored:
        return Peak()
    top = max(scored, key=lambda t: t.score(kind))
    return Peak(top.score(kind), top.number)


@dataclass(frozen=True)
class Moment:
    """What the payload's summary and approach are written from."""

    trigger: dict[str, Any] | None
    trigger_message: dict[str, Any]
    frustration: Peak
    distress: Peak
    attempts: list[dict[str, Any]]
    opted_out: bool
    policy: EmpathyPolicy

    @property
    def distressed(self) -> bool:
        """Distress crossed the policy's threshold at some turn, or the handoff answers a call-back offer."""
        decision = (self.trigger or {}).get("decision")
        return self.distress.score >= self.policy.distress_threshold or decision == OFFER_CALLBACK


def _attempt(entry: dict[str, Any]) -> Attempt:
    topic = entry.get("topic")
    return {
        "asked": button_words(str(entry.get("asked") or "")),
        "topic": topic if isinstance(topic, str) else None,
        "tried": plain_words(str(entry.get("tried") or "")),
        "outcome": str(entry.get("outcome") or ""),
        "why": str(entry.get("why") or ""),
    }


def _humanised(name: str) -> str:
    for prefix in ("action_", "validate_", "utter_"):
        name = name.removeprefix(prefix)
    return name.replace("_", " ")


def plain_words(text: str) -> str:
    """``text`` with the bot's internal names in words ("action_lookup with order 1": "Looked up order 1")."""
    name, _, rest = text.partition(" with ")
    if name in ACTION_WORDS:
        return f"{ACTION_WORDS[name]} {rest}".strip()
    return _INTERNAL_NAME.sub(lambda m: _humanised(m.group(0)), text)


def button_words(text: str, buttons: list[dict[str, Any]] | None = None) -> str:
    """A tapped button's payload ("/affirm") as the words on the button; other text as it is."""
    stripped = text.strip()
    if not stripped.startswith("/"):
        return text
    for button in buttons or []:
        if isinstance(button, dict) and str(button.get("payload", "")).strip() == stripped:
            return f"{button.get('title') or PAYLOAD_WORDS.get(stripped, stripped)} (button)"
    intent = re.split(r"[{@\s]", stripped[1:], maxsplit=1)[0]
    words = PAYLOAD_WORDS.get(f"/{intent}") or TOPIC_WORDS.get(intent) or _humanised(intent) or "a button"
    return f"{words} (button)"


def _buttons_of(event: dict[str, Any]) -> list[dict[str, Any]]:
    buttons = (event.get("data") or {}).get("buttons")
    return [b for b in buttons if isinstance(b, dict)] if isinstance(buttons, list) else []


def _reading(turn: int, event: dict[str, Any]) -> EmotionReading | None:
    """The emotion model's reading of one customer message, as the payload carries it."""
    reading = (event.get("parse_data") or {}).get(PARSE_EMOTION)
    if not isinstance(reading, dict) or not reading.get("top"):
        return None
    probabilities = reading.get("probabilities") or {}
    return {
        "turn": turn,
        "text": button_words(str(event.get("text") or "")),
        "top": str(reading["top"]),
        "probabilities": {str(k): round(float(v), 4) for k, v in probabilities.items()},
    }


def _reason(trigger: dict[str, Any] | None) -> str:
    if trigger is None or trigger.get("decision") == HANDOFF:
        return "customer_request"
    if trigger.get("decision") == OFFER_CALLBACK:
        return "distress"
    reasons = " ".join(trigger.get("reasons") or [])
    return "frustration" if "frustration" in reasons else "failed_self_service"


def language_of(message: dict[str, Any]) -> tuple[str, bool] | None:
    """The detected language of a message (its code, and whether the bot reads it); None if not detected."""
    detected = (message.get("parse_data") or {}).get(PARSE_LANGUAGE)
    if not isinstance(detected, dict):
        return None
    code = detected.get("code")
    if not isinstance(code, str) or not _LANGUAGE_CODE.search(code):
        return None
    supported = detected.get("supported") is not False
    if code == UNDETERMINED and supported:
        return None  # too short to tell ("ok", "yes"): another message may tell
    return code, supported


def build_payload(
    tracker: Tracker, now: datetime | None = None, policy: EmpathyPolicy | None = None
) -> HandoffPayload:
    """The handoff payload for this conversation, answering its latest escalation decision.

    ``policy`` is the empathy policy whose thresholds the summary uses (the action server's by default).
    """
    if policy is None:
        from actions import resources  # the composition root, reached on use (never at import)

        policy = resources.empathy_policy()
    opted_out = bool(tracker.get_slot(SLOT_EMOTION_OPT_OUT))
    history = explanations(tracker)
    trigger = trigger_of(history)
    turns = scored_turns(tracker)
    user_events = [e for e in tracker.events if e.get("event") == "user"]
    latest = user_events[-1] if user_events else {}
    attempts = _failed_attempts(tracker)
    decision_turn = int(trigger.get("turn", 0)) if trigger else len(user_events)
    trigger_message = _trigger_message(turns, trigger, user_events)
    moment = Moment(
        trigger=trigger,
        trigger_message=trigger_message,
        frustration=peak(turns, "frustration"),
        distress=peak(turns, "distress"),
        attempts=attempts,
        opted_out=opted_out,
        policy=policy,
    )
    language = language_of(trigger_message) or language_of(latest)

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
        "summary": summary(tracker, moment, language),
        "recommended_approach": approach(tracker, moment, language),
        "transcript": _transcript(tracker),
        "callback": {
            "requested": bool(trigger and trigger.get("decision") == OFFER_CALLBACK),
            "phone_masked": None,
        },
    }
    if language is not None:
        payload["language"] = language[0]
    if not opted_out:
        _add_emotional_data(payload, tracker, turns, trigger, user_events)
    return payload


def _trigger_message(
    turns: list[Turn], trigger: dict[str, Any] | None, user_events: list[dict[str, Any]]
) -> dict[str, Any]:
    """The customer message the handoff answers: the trigger turn's, or the request before it when
    that message was only a greeting, a yes, a no or a thank-you (or a button).
    """
    number = _int(trigger.get("turn")) if trigger else None
    scored = next((t.message for t in reversed(turns) if t.number == number and t.message), None)
    message: dict[str, Any] = scored if scored is not None else (user_events[-1] if user_events else {})
    upto = next((n for n, e in enumerate(user_events) if e is message), len(user_events) - 1)
    requests = [event for event in user_events[: upto + 1] if _is_request(event)]
    return requests[-1] if requests else message


def _is_request(event: dict[str, Any]) -> bool:
    text = str(event.get("text") or "").strip()
    intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
    return bool(text) and not text.startswith("/") and intent not in _NOT_THE_REQUEST


def _failed_attempts(tracker: Tracker) -> list[dict[str, Any]]:
    """The failed self-service attempts, oldest first: one slot event each (actions/self_service.py),
    or the self-service log of a conversation stored before issue 18.
    """
    attempts = [
        e["value"]
        for e in tracker.events
        if e.get("event") == "slot" and e.get("name") == SLOT_SELF_SERVICE_ATTEMPT
    ]
    if not attempts:
        log = tracker.get_slot(SLOT_SELF_SERVICE_LOG)
        attempts = log if isinstance(log, list) else []
    return [a for a in attempts if isinstance(a, dict) and a.get("failed")]


def _idempotency_key(conversation_id: str, decision_turn: int, trigger: dict[str, Any] | None) -> str:
    """The same decision in the same conversation always gets the same key."""
    source = f"{conversation_id}|{decision_turn}|{trigger.get('decision') if trigger else HANDOFF}"
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
        return {"decision": HANDOFF, "reasons": ["the customer accepted a person"], "turn": decision_turn}
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
    """What the customer and the bot said, in order (the bot's events without text left out); a
    button the customer tapped as the words on it.
    """
    lines: list[TranscriptLine] = []
    buttons: list[dict[str, Any]] = []
    for event in tracker.events:
        kind = event.get("event")
        if kind == "bot":
            buttons = _buttons_of(event) or buttons
            if event.get("text"):
                lines.append(
                    {"speaker": "bot", "text": str(event["text"]), "at": _iso(event.get("timestamp"))}
                )
        elif kind == "user":
            text = button_words(str(event.get("text") or ""), buttons)
            lines.append({"speaker": "customer", "text": text, "at": _iso(event.get("timestamp"))})
    return lines


def _trajectory_point(turn: Turn) -> TrajectoryPoint:
    return {
        "turn": turn.number,
        "frustration": turn.frustration,
        "distress": turn.distress,
        "top_signals": turn.signals,
    }


def _add_emotional_data(
    payload: HandoffPayload,
    tracker: Tracker,
    turns: list[Turn],
    trigger: dict[str, Any] | None,
    user_events: list[dict[str, Any]],
) -> None:
    """Scores, tone, emotion readings and the decision's explanation (never for a customer who opted out)."""
    payload["trajectory"] = [_trajectory_point(t) for t in turns if not t.opted_out]
    payload["tone"] = str(tracker.get_slot(SLOT_TONE) or "neutral")
    readings = (_reading(n, e) for n, e in enumerate(user_events, 1))
    payload["emotions"] = [r for r in readings if r is not None]
    if trigger:
        payload["explanation"] = trigger["_explanation"]


def _feeling(moment: Moment) -> str:
    """How the customer felt, from the peak of each trajectory and the policy's thresholds.

    In words, without scores: roles that may not see distress indicators still read the summary.
    """
    policy, distress, frustration = moment.policy, moment.distress, moment.frustration
    if distress.score >= policy.distress_threshold:
        return f"They sounded distressed (most at turn {distress.turn})."
    if moment.distressed:
        return "The bot offered a call-back because they sounded distressed."
    if frustration.score >= policy.escalation.offer_human_above:
        return f"They were very frustrated (most at turn {frustration.turn})."
    if frustration.score >= policy.frustration_threshold:
        return f"They got frustrated (most at turn {frustration.turn})."
    if frustration.turn == 0 and distress.turn == 0:
        return ""  # no turn was scored: nothing to say about how they feel
    return "They sound calm."


def _quote(message: dict[str, Any]) -> str:
    text = button_words(str(message.get("text") or "")).strip()
    if not text:
        return ""
    if len(text) > MAX_QUOTE_CHARS:
        text = text[:MAX_QUOTE_CHARS].rstrip() + "…"
    return f"In their words: \u201c{text}\u201d."


def _failures(attempts: list[dict[str, Any]]) -> str:
    if not attempts:
        return ""
    reasons = "; ".join(dict.fromkeys(str(a.get("why")) for a in attempts))
    times = "once" if len(attempts) == 1 else f"{len(attempts)} times"
    return f"Self-service failed {times}: {reasons}."


def _language_note(language: tuple[str, bool] | None) -> str:
    if language is None or language[1]:
        return ""
    return f"They wrote in a language the bot does not read (language code {language[0]})."


def summary(tracker: Tracker, moment: Moment, language: tuple[str, bool] | None = None) -> str:
    """What the agent reads first: the request, their words at the handoff, what failed, how they feel."""
    topic = tracker.get_slot(SLOT_TOPIC)
    parts = [
        f"Customer wants help with {TOPIC_WORDS.get(str(topic), 'their request')}.",
        _quote(moment.trigger_message),
    ]
    order_id = tracker.get_slot(SLOT_ORDER_ID)
    if order_id:
        parts.append(f"Order {order_id}.")
    parts += [_failures(moment.attempts), _language_note(language)]
    if not moment.opted_out:
        parts.append(_feeling(moment))
    return " ".join(p for p in parts if p)


def approach(tracker: Tracker, moment: Moment, language: tuple[str, bool] | None = None) -> list[str]:
    """What the agent should do first, most urgent first."""
    steps = []
    if not moment.opted_out and moment.distressed:
        steps.append("Check they are safe first, and offer a phone call if they have not booked one.")
    if len(moment.attempts) >= 2:
        steps.append(f"Apologise for the repeated failure ({moment.attempts[-1].get('why')}).")
    elif moment.attempts:
        steps.append(f"Apologise that self-service did not work ({moment.attempts[-1].get('why')}).")
    order_id = tracker.get_slot(SLOT_ORDER_ID)
    if order_id:
        steps.append(f"Don't ask for the order number again: it is {order_id}.")
    elif tracker.get_slot(SLOT_EMAIL):
        steps.append("Don't ask for the e-mail address again: it is in the conversation.")
    if moment.trigger and moment.trigger.get("decision") == HANDOFF:
        steps.append("They asked for a person: introduce yourself by name.")
    if language is not None and not language[1]:
        steps.append(f"Reply in their language ({language[0]}) if you can, else in plain, simple English.")
    if moment.opted_out:
        steps.append("They opted out of emotion analysis: don't comment on their mood.")
    elif not moment.distressed and moment.frustration.score >= moment.policy.escalation.offer_human_above:
        steps.append("Be brief and direct: say what you will do and by when.")
    return steps or ["Greet them and confirm what they need."]
