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

from bot.empathy.cues import Cues, confusion_words, extract_cues
from bot.empathy.emotions import ANGER, CONFUSION, DISGUST, FEAR, FRUSTRATION, JOY, SADNESS

# Intents that say nothing about a request being repeated ("yes", "hi", an order number).
NON_REQUEST_INTENTS = frozenset({"greet", "goodbye", "affirm", "deny", "thank", "inform", "nlu_fallback"})

# Cosine similarity of two MiniLM embeddings: below LOW unrelated, above HIGH a rephrase.
REPHRASE_LOW, REPHRASE_HIGH = 0.55, 0.85
# A reply this fast (seconds) after the bot's message reads as impatience.
FAST_REPLY_SECONDS = 8.0
# Coming back on another channel within this many minutes counts as a return.
RETURN_WINDOW_MINUTES = 60.0
# Capitals are a signal only together with other evidence in the same turn (issue 17): some
# people type in capitals all the time.  Other evidence is a wording cue (swearing, "!!!", "again",
# sarcasm, a correction, confusion) or a negative emotion reading at least this strong.
SHOUTING_NEEDS_EMOTION = 0.5


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


@dataclass
class _Found:
    """What the readers below found so far, in the order they found it."""

    values: dict[str, float] = field(default_factory=dict)
    distress: dict[str, float] = field(default_factory=dict)
    unavailable: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def signals(self) -> TurnSignals:
        return TurnSignals(
            self.values,
            self.distress,
            tuple(dict.fromkeys(self.unavailable)),
            tuple(dict.fromkeys(self.sources)),
        )


def compute_signals(
    current: TurnObservation,
    previous: TurnObservation | None,
    use_emotion: bool = True,
    unread_because: str = "customer opted out",
) -> TurnSignals:
    """Signals of ``current`` given the customer's previous turn (None for the first turn).

    With ``use_emotion`` False (the customer opted out, or the message is in a language the models
    do not read: ``unread_because`` says which) nothing is read from the emotion model or the
    wording of the message; only what happened in the conversation counts.
    """
    found = _Found()
    if use_emotion:
        _read_wording(found, current)
    else:
        found.unavailable.append(f"emotion and wording ({unread_because})")
    _read_intent(found, current, previous)
    _read_failed_attempts(found, current)
    if previous is not None:
        _read_rephrase(found, current, previous)
        if use_emotion:
            _read_length(found, current, previous)
    _read_reply_speed(found, current, previous)
    _read_channel_return(found, current)
    return found.signals()


def _read_wording(found: _Found, current: TurnObservation) -> None:
    """The emotion model's reading and the cues in the message's wording."""
    cues = current.cues or extract_cues(current.text)
    found.sources.append("message cues")
    _read_emotion(found, current.emotion)
    _read_cues(found, cues)
    found.values["confusion"] = max(found.values.get("confusion", 0.0), confusion_words(current.text))
    _gate_shouting(found, cues)


def _read_emotion(found: _Found, emotion: Mapping[str, float] | None) -> None:
    if not emotion:
        found.unavailable.append("emotion model")
        return
    negative = emotion.get(ANGER, 0) + emotion.get(FRUSTRATION, 0) + emotion.get(DISGUST, 0)
    found.values["negative_emotion"] = min(1.0, negative + 0.5 * emotion.get(SADNESS, 0))
    # Calm evidence: "thanks, that's sorted" lowers the score (a negative weight in the policy).
    found.values["positive_emotion"] = emotion.get(JOY, 0.0)
    found.values["confusion"] = emotion.get(CONFUSION, 0.0)
    found.distress["fear"] = emotion.get(FEAR, 0.0)
    found.distress["sadness"] = emotion.get(SADNESS, 0.0)
    found.sources.append("emotion model")


def _read_cues(found: _Found, cues: Cues) -> None:
    found.values["shouting"] = _ramp(cues.caps_ratio, 0.3, 0.8)
    found.values["punctuation"] = max(
        cues.punctuation_burst, cues.exclamations if cues.exclamations > 0.5 else 0.0
    )
    found.values["profanity"] = cues.profanity
    found.values["repetition_words"] = cues.repetition
    found.values["sarcasm"] = cues.sarcasm
    found.values["correction"] = cues.correction
    found.values["human_request"] = cues.human_request
    found.distress["distress_words"] = cues.distress_words


def _gate_shouting(found: _Found, cues: Cues) -> None:
    """Capitals alone are how some people write; they count only next to other negative evidence."""
    other_cues = (cues.profanity, cues.punctuation_burst, cues.repetition, cues.sarcasm, cues.correction)
    evidence = (
        any(value > 0 for value in other_cues)
        or found.values.get("confusion", 0.0) >= 1.0
        or found.values.get("negative_emotion", 0.0) >= SHOUTING_NEEDS_EMOTION
    )
    if not evidence:
        found.values["shouting"] = 0.0


def _read_intent(found: _Found, current: TurnObservation, previous: TurnObservation | None) -> None:
    if current.intent == "request_human":
        found.values["human_request"] = 1.0
    if current.intent is None:
        found.unavailable.append("intent")
        return
    found.values["nlu_fallback"] = 1.0 if current.intent == "nlu_fallback" else 0.0
    found.sources.append("intent")
    if previous is not None and previous.intent is not None:
        same = current.intent == previous.intent and current.intent not in NON_REQUEST_INTENTS
        found.values["repeated_intent"] = 1.0 if same else 0.0


def _read_failed_attempts(found: _Found, current: TurnObservation) -> None:
    if current.failed_attempts is None:
        found.unavailable.append("self-service outcomes")
        return
    found.values["failed_self_service"] = min(max(current.failed_attempts, 0), 3) / 3
    found.sources.append("self-service outcomes")


def _read_rephrase(found: _Found, current: TurnObservation, previous: TurnObservation) -> None:
    similarity = (
        _cosine(current.embedding, previous.embedding)
        if current.embedding is not None and previous.embedding is not None
        else None
    )
    if similarity is None:
        found.unavailable.append("message embeddings")
        return
    found.values["rephrase"] = _ramp(similarity, REPHRASE_LOW, REPHRASE_HIGH)
    found.sources.append("message embeddings")


def _read_length(found: _Found, current: TurnObservation, previous: TurnObservation) -> None:
    """A message much longer than the previous one (part of the wording: off when opted out)."""
    if len(previous.text) >= 10:
        found.values["longer_message"] = _ramp(len(current.text) / len(previous.text), 2.0, 5.0)


def _reply_latency(current: TurnObservation, previous: TurnObservation | None) -> float | None:
    """Seconds the customer took to reply: measured from the bot's message, else between their turns."""
    if current.reply_seconds is not None:
        return current.reply_seconds
    if previous is None or current.timestamp is None or previous.timestamp is None:
        return None
    return float(current.timestamp) - float(previous.timestamp)


def _read_reply_speed(found: _Found, current: TurnObservation, previous: TurnObservation | None) -> None:
    latency = _reply_latency(current, previous)
    if latency is not None and latency >= 0:
        found.values["fast_reply"] = (
            _ramp(FAST_REPLY_SECONDS - latency, 0.0, FAST_REPLY_SECONDS) if current.text else 0.0
        )
        found.sources.append("timestamps")
    elif previous is not None:
        found.unavailable.append("timestamps")


def _read_channel_return(found: _Found, current: TurnObservation) -> None:
    if current.returned_after_minutes is None:
        return
    found.values["channel_return"] = _ramp(
        RETURN_WINDOW_MINUTES - current.returned_after_minutes, 0, RETURN_WINDOW_MINUTES
    )
    found.sources.append("contact history")
