"""A conversation scored turn by turn, the way action_track_empathy scores it, with a policy in hand.

The NLU reading of each message (intent ranking, emotion probabilities, cues, message vector) comes
from the Rasa server's ``/model/parse`` (handoff/playground/nlu.py): the handoff service never imports
Rasa or bot.components (pyproject.toml's contracts).  Everything after it is the pure empathy core
(bot/empathy): signals, score, tone, escalation, in the order and with the carry-over the action server
uses (actions/empathy_tracking.py).  Signals do not depend on the policy, so they are computed once per
conversation (``observe``) and re-scored under any draft in well under a millisecond a turn (``replay``).

What a playground turn cannot know is said, not guessed: no timestamps (no fast-reply signal), no
contact history; failed self-service attempts are what the designer types in (or what the sample's
story sets).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from bot.constants import (
    NLU_FALLBACK,
    OUT_OF_SCOPE,
    PARSE_EMOTION,
    PARSE_EMOTION_VECTOR,
    PARSE_LANGUAGE,
    REQUEST_HUMAN,
)
from bot.empathy import compact_vector
from bot.empathy.cues import Cues
from bot.empathy.escalation import EscalationHistory, decide
from bot.empathy.policy import EmpathyPolicy
from bot.empathy.scoring import Score, score_turn
from bot.empathy.signals import TurnObservation, TurnSignals, compute_signals
from bot.empathy.tone import NEUTRAL, choose_tone

NOT_UNDERSTOOD: Final = frozenset({NLU_FALLBACK, OUT_OF_SCOPE})
RANKING_SHOWN: Final = 3


@dataclass(frozen=True)
class Reading:
    """What the NLU made of one message (the parts the empathy core reads)."""

    text: str
    intent: str | None
    ranking: tuple[tuple[str, float], ...]
    emotion: Mapping[str, float] | None
    cues: Cues | None
    vector: list[float] | None
    # The language code when the models do not read the message's language (scored like the action server).
    unread_language: str | None = None


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _ranking(parse: Mapping[str, Any]) -> tuple[tuple[str, float], ...]:
    found = []
    for item in parse.get("intent_ranking") or []:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            confidence = _number(item.get("confidence"))
            found.append((str(item["name"]), confidence if confidence is not None else 0.0))
    return tuple(found[:RANKING_SHOWN])


def _cues(emotion: Mapping[str, Any]) -> Cues | None:
    cues = emotion.get("cues")
    if not isinstance(cues, Mapping):
        return None
    try:
        return Cues(**{str(k): float(v) for k, v in cues.items() if _number(v) is not None})
    except TypeError:  # a key this version's Cues does not have: read the cues from the text instead
        return None


def reading_from_parse(text: str, parse: object) -> Reading:
    """A Reading from ``/model/parse``'s answer; anything malformed in it reads as unavailable."""
    data = parse if isinstance(parse, Mapping) else {}
    intent = data.get("intent")
    name = intent.get("name") if isinstance(intent, Mapping) else None
    emotion = data.get(PARSE_EMOTION)
    emotion = emotion if isinstance(emotion, Mapping) else {}
    probabilities = emotion.get("probabilities")
    language = data.get(PARSE_LANGUAGE)
    unread = None
    if isinstance(language, Mapping) and language.get("supported") is False:
        unread = str(language.get("code") or "unknown")
    return Reading(
        text=text,
        intent=name if isinstance(name, str) else None,
        ranking=_ranking(data),
        emotion=(
            {str(k): float(v) for k, v in probabilities.items() if _number(v) is not None}
            if isinstance(probabilities, Mapping)
            else None
        ),
        cues=_cues(emotion),
        vector=compact_vector.unpack(emotion.get(PARSE_EMOTION_VECTOR)),
        unread_language=unread,
    )


def _observation(reading: Reading, failed_attempts: int) -> TurnObservation:
    unread = reading.unread_language is not None
    return TurnObservation(
        text=reading.text,
        emotion=None if unread else reading.emotion or None,
        cues=None if unread else reading.cues,
        embedding=None if unread else reading.vector,
        intent=None if unread else reading.intent,
        failed_attempts=failed_attempts,
    )


def observe(
    readings: Sequence[Reading], failures: Sequence[int], opted_out: bool = False
) -> list[TurnSignals]:
    """Each turn's signals (policy-independent), each given the turn before it."""
    found: list[TurnSignals] = []
    previous: TurnObservation | None = None
    for reading, failed in zip(readings, failures, strict=True):
        current = _observation(reading, failed)
        language = reading.unread_language
        found.append(
            compute_signals(
                current,
                previous,
                use_emotion=not opted_out and language is None,
                unread_because=(
                    "customer opted out"
                    if opted_out
                    else f"message in a language the models do not read: {language}"
                ),
            )
        )
        previous = current
    return found


def _score(score: Score) -> dict[str, Any]:
    rows = sorted(score.contributions.items(), key=lambda item: -abs(item[1]["contribution"]))
    return {
        "score": round(score.value, 3),
        "instant": round(score.instant, 3),
        "carried": round(score.carried, 3),
        "threshold": score.threshold,
        "over_threshold": score.over_threshold,
        "signals": [{"name": name, **parts} for name, parts in rows],
    }


@dataclass
class _State:
    """What carries from one turn to the next, as the empathy state slot carries it."""

    frustration: float = 0.0
    distress: float = 0.0
    tone: str = NEUTRAL
    tone_turns: int = 0
    misunderstood: int = 0
    history: EscalationHistory = field(default_factory=EscalationHistory)


def replay(
    readings: Sequence[Reading],
    signals: Sequence[TurnSignals],
    failures: Sequence[int],
    policy: EmpathyPolicy,
    opted_out: bool = False,
) -> list[dict[str, Any]]:
    """Every turn under ``policy``: its reading, each signal x weight = contribution, the scores with
    the carried part, the tone and the escalation decision with its reasons.
    """
    state = _State()
    turns: list[dict[str, Any]] = []
    for number, (reading, found, failed) in enumerate(zip(readings, signals, failures, strict=True), start=1):
        state.misunderstood = state.misunderstood + 1 if reading.intent in NOT_UNDERSTOOD else 0
        explicit = reading.intent == REQUEST_HUMAN
        turn: dict[str, Any] = {
            "turn": number,
            "text": reading.text,
            "intents": [{"name": n, "confidence": round(c, 3)} for n, c in reading.ranking],
            "emotions": dict(sorted((reading.emotion or {}).items(), key=lambda kv: -kv[1])[:4]),
            "failed_attempts": failed,
            "unavailable": list(found.unavailable),
        }
        if opted_out:
            decision = decide(
                number, None, explicit, failed, state.history, policy.escalation, state.misunderstood
            )
            turn.update(
                opted_out=True, frustration=None, distress=None, tone={"tone": NEUTRAL, "reason": "opted out"}
            )
        else:
            score = score_turn(found, state.frustration, state.distress, policy)
            tone = choose_tone(
                score.frustration.value, score.distress.value, state.tone, state.tone_turns, policy.tone
            )
            decision = decide(
                number, score, explicit, failed, state.history, policy.escalation, state.misunderstood
            )
            state.frustration, state.distress = score.frustration.value, score.distress.value
            state.tone, state.tone_turns = tone.tone, tone.turns_held
            turn.update(
                opted_out=False,
                frustration=_score(score.frustration),
                distress=_score(score.distress),
                tone={"tone": tone.tone, "reason": tone.reason},
            )
        state.history = state.history.after(decision)
        turn["decision"] = {
            "kind": decision.kind,
            "priority": decision.priority,
            "reasons": list(decision.reasons),
        }
        turns.append(turn)
    return turns
