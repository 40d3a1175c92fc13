"""Per-turn signals, each in [0, 1], from what the customer wrote and how the conversation went.

A ``TurnObservation`` is everything Attune knows about one customer turn at the moment it
arrives: the message, its emotion reading and cues (from the NLU component), its intent, when
it was sent, and whether the bot's last self-service attempt failed.  Any of these may be
missing (no timestamps in a transcript, the emotion model unavailable, emotion processing
switched off by the customer); a missing input yields no signal and is listed as unavailable,
never an error.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.empathy.cues import Cues, extract_cues
from bot.empathy.emotions import ANGER, DISGUST, FEAR, FRUSTRATION, SADNESS

# Intents that say nothing about a request being repeated ("yes", "hi", an order number).
NON_REQUEST_INTENTS = frozenset({"greet", "goodbye", "affirm", "deny", "thank", "inform", "nlu_fallback"})

# Cosine similarity of two MiniLM embeddings: below LOW unrelated, above HIGH a rephrase.
REPHRASE_LOW, REPHRASE_HIGH = 0.55, 0.85
# A reply this fast (seconds) after the bot's message reads as impatience.
FAST_REPLY_SECONDS = 8.0
# Coming back on another channel within this many minutes counts as a return.
RETURN_WINDOW_MINUTES = 60.0


@dataclass(frozen=True)
class TurnObservation:
    text: str
    emotion: Mapping[str, float] | None = None
    cues: Cues | None = None
    embedding: Sequence[float] | None = None
    intent: str | None = None
    timestamp: float | None = None
    # Seconds since the bot's last message, when known (more precise than two user timestamps).
    reply_seconds: float | None = None
    # Consecutive failed self-service attempts before this turn (None: not known).
    failed_attempts: int | None = None
    # Minutes since this customer's last conversation on another channel (None: no such contact).
    returned_after_minutes: float | None = None


@dataclass(frozen=True)
class TurnSignals:
    values: dict[str, float]
    distress_values: dict[str, float]
    unavailable: tuple[str, ...] = field(default_factory=tuple)
    sources: tuple[str, ...] = field(default_factory=tuple)


def _cosine(a: Sequence[float], b: Sequence[float]) -> float | None:
    if len(a) != len(b) or not a:
        return None
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else None


def _ramp(value: float, low: float, high: float) -> float:
    return min(1.0, max(0.0, (value - low) / (high - low)))


def compute_signals(
    current: TurnObservation, previous: TurnObservation | None, use_emotion: bool = True
) -> TurnSignals:
    """Signals of ``current`` given the customer's previous turn (None for the first turn).

    With ``use_emotion`` False (the customer opted out) nothing is read from the emotion model or
    the wording of the message; only what happened in the conversation counts.
    """
    values: dict[str, float] = {}
    distress: dict[str, float] = {}
    unavailable: list[str] = []
    sources: list[str] = []

    if use_emotion:
        cues = current.cues or extract_cues(current.text)
        sources.append("message cues")
        if current.emotion:
            e = current.emotion
            values["negative_emotion"] = min(
                1.0, e.get(ANGER, 0) + e.get(FRUSTRATION, 0) + e.get(DISGUST, 0) + 0.5 * e.get(SADNESS, 0)
            )
            distress["fear"] = e.get(FEAR, 0.0)
            distress["sadness"] = e.get(SADNESS, 0.0)
            sources.append("emotion model")
        else:
            unavailable.append("emotion model")
        values["shouting"] = _ramp(cues.caps_ratio, 0.3, 0.8)
        values["punctuation"] = max(
            cues.punctuation_burst, cues.exclamations if cues.exclamations > 0.5 else 0.0
        )
        values["profanity"] = cues.profanity
        values["repetition_words"] = cues.repetition
        values["sarcasm"] = cues.sarcasm
        values["correction"] = cues.correction
        values["human_request"] = cues.human_request
        distress["distress_words"] = cues.distress_words
    else:
        unavailable.append("emotion and wording (customer opted out)")

    if current.intent == "request_human":
        values["human_request"] = 1.0
    if current.intent is not None:
        values["nlu_fallback"] = 1.0 if current.intent == "nlu_fallback" else 0.0
        sources.append("intent")
        if previous is not None and previous.intent is not None:
            same = current.intent == previous.intent and current.intent not in NON_REQUEST_INTENTS
            values["repeated_intent"] = 1.0 if same else 0.0
    else:
        unavailable.append("intent")

    if current.failed_attempts is not None:
        values["failed_self_service"] = min(max(current.failed_attempts, 0), 3) / 3
        sources.append("self-service outcomes")
    else:
        unavailable.append("self-service outcomes")

    if previous is not None:
        similarity = (
            _cosine(current.embedding, previous.embedding)
            if current.embedding is not None and previous.embedding is not None
            else None
        )
        if similarity is not None:
            values["rephrase"] = _ramp(similarity, REPHRASE_LOW, REPHRASE_HIGH)
            sources.append("message embeddings")
        else:
            unavailable.append("message embeddings")
        if use_emotion and len(previous.text) >= 10:
            values["longer_message"] = _ramp(len(current.text) / len(previous.text), 2.0, 5.0)

    latency = current.reply_seconds
    if latency is None and previous is not None and None not in (current.timestamp, previous.timestamp):
        latency = float(current.timestamp) - float(previous.timestamp)  # type: ignore[arg-type]
    if latency is not None and latency >= 0:
        values["fast_reply"] = (
            _ramp(FAST_REPLY_SECONDS - latency, 0.0, FAST_REPLY_SECONDS) if current.text else 0.0
        )
        sources.append("timestamps")
    elif previous is not None:
        unavailable.append("timestamps")

    if current.returned_after_minutes is not None:
        values["channel_return"] = _ramp(
            RETURN_WINDOW_MINUTES - current.returned_after_minutes, 0, RETURN_WINDOW_MINUTES
        )
        sources.append("contact history")

    return TurnSignals(values, distress, tuple(dict.fromkeys(unavailable)), tuple(dict.fromkeys(sources)))
