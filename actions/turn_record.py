"""The compact per-turn record: one ``turn_record`` slot event per customer message (issue 18).

Analytics reads it from Rasa's event broker, and the handoff payload builds its trajectory from
the records in the tracker (actions/handoff_payload.py), so its shape is fixed here and in
docs/tracker-budget.md; a change of shape bumps ``VERSION`` (an optional key that readers may
ignore, as ``emotion``, does not).  Scores, signals and the top emotion label are in it only with
the customer's consent to emotion analysis.

``outcome`` is the self-service outcome of the bot's answer to the customer's *previous* message,
the answer this message reacts to: the record is written when the message is scored, before this
turn's own lookup runs.  This turn's outcome is the ``last_outcome`` slot event later in the turn,
and the next record's ``outcome``.
"""

from typing import Any, Final, Literal, TypedDict

from rasa_sdk import Tracker

from bot.constants import PARSE_EMOTION, SLOT_LAST_OUTCOME, SLOT_TURN_RECORD

VERSION: Final = 1
# The longest emotion label a record carries (bot/empathy/emotions.py; the payload contract allows 32).
MAX_EMOTION: Final = 32
# Contributions of the frustration score named in a record, largest first.
TOP_SIGNALS: Final = 3
EmotionProcessing = Literal["on", "off"]
ON: Final[EmotionProcessing] = "on"
OFF: Final[EmotionProcessing] = "off"


class TurnRecord(TypedDict, total=False):
    v: int
    turn: int
    intent: str | None
    confidence: float | None
    outcome: str | None
    tone: str
    decision: str
    emotion_processing: EmotionProcessing
    # Only with consent (emotion_processing "on"):
    frustration: float
    distress: float
    signals: list[str]
    # The emotion model's top label for the message, when it read one (not for an unread language).
    emotion: str


def top_signals(explanation: dict[str, Any], n: int = TOP_SIGNALS) -> list[str]:
    """The signals that added most to the frustration score (positive contributions only)."""
    contributions = (explanation.get("frustration") or {}).get("contributions") or {}
    ranked = sorted(
        (
            (name, float(value.get("contribution", 0)))
            for name, value in contributions.items()
            if isinstance(value, dict)
        ),
        key=lambda pair: -pair[1],
    )
    return [name for name, contribution in ranked[:n] if contribution > 0]


def outcome_before(tracker: Tracker) -> str | None:
    """The ``last_outcome`` set between the previous customer message and the latest one, if any."""
    users = 0
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            users += 1
            if users == 2:
                return None
        elif users == 1 and kind == "slot" and event.get("name") == SLOT_LAST_OUTCOME:
            value = event.get("value")
            return str(value) if value is not None else None
    return None


def build(
    tracker: Tracker,
    turn: int,
    latest: dict[str, Any],
    tone: str,
    decision: str,
    explanation: dict[str, Any] | None,
) -> TurnRecord:
    """This turn's record; ``explanation`` is the engine's (None: emotion processing is off)."""
    intent = (latest.get("parse_data") or {}).get("intent") or {}
    confidence = intent.get("confidence")
    record: TurnRecord = {
        "v": VERSION,
        "turn": turn,
        "intent": str(intent["name"]) if intent.get("name") else None,
        "confidence": round(float(confidence), 3) if isinstance(confidence, (int, float)) else None,
        "outcome": outcome_before(tracker),
        "tone": tone,
        "decision": decision,
        "emotion_processing": OFF if explanation is None else ON,
    }
    if explanation is not None:
        record["frustration"] = round(float((explanation.get("frustration") or {}).get("score", 0.0)), 3)
        record["distress"] = round(float((explanation.get("distress") or {}).get("score", 0.0)), 3)
        record["signals"] = top_signals(explanation)
        emotion = top_emotion(latest, explanation)
        if emotion is not None:
            record["emotion"] = emotion
    return record


def top_emotion(latest: dict[str, Any], explanation: dict[str, Any]) -> str | None:
    """The emotion model's top label for the message; None when it read none (no model, an error,
    a language the models do not read: the explanation then names it).
    """
    if explanation.get("unread_language"):
        return None
    reading = (latest.get("parse_data") or {}).get(PARSE_EMOTION)
    top = reading.get("top") if isinstance(reading, dict) else None
    return top if isinstance(top, str) and 0 < len(top) <= MAX_EMOTION else None


def records(tracker: Tracker) -> list[dict[str, Any]]:
    """The turn records of this conversation's events, oldest first."""
    return [
        event["value"]
        for event in tracker.events
        if event.get("event") == "slot"
        and event.get("name") == SLOT_TURN_RECORD
        and isinstance(event.get("value"), dict)
    ]
