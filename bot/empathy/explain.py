"""A conversation's empathy readings turn by turn, as ``action_track_empathy`` makes them.

``attune explain`` (bot/evaluation/explain.py) parses each message with the trained NLU and
hands the readings here.  The loop is the action server's (actions/empathy_tracking.py): the
signals of each message given the previous one, the score carried over from the last turn, the
tone held with hysteresis, the escalation decision with its cooldown, and for an opted-out
customer no reading at all (neutral tone; only facts can lead to a person).  What a command line
cannot know is left out as the action server leaves it out when it does not know it: there are
no timestamps (no reply-speed signal), no self-service attempts ran (``failed_attempts``), and
no contact history (no channel-return signal).  tests/bot/test_explain.py checks the loop
against the action itself.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.empathy import compact_vector
from bot.empathy.cues import Cues
from bot.empathy.escalation import Decision, EscalationHistory, decide
from bot.empathy.policy import EmpathyPolicy
from bot.empathy.scoring import TurnScore, score_turn
from bot.empathy.signals import TurnObservation, TurnSignals, compute_signals
from bot.empathy.tone import NEUTRAL, ToneChoice, choose_tone


@dataclass(frozen=True)
class ReadTurn:
    """One customer message as the NLU read it, and what its intent means for escalation."""

    text: str
    intent: str | None
    emotion: Mapping[str, float] | None
    cues: Cues | None
    # The message vector as the parse data carries it (packed int8, unpacked): what the action sees.
    embedding: Sequence[float] | None
    asks_for_human: bool = False
    not_understood: bool = False  # the NLU's fallback or out-of-scope: the bot cannot help with it
    unread_language: str | None = None  # a language the models do not read (no emotion, no intent)


@dataclass(frozen=True)
class TurnExplanation:
    number: int
    turn: ReadTurn
    signals: TurnSignals | None  # None: the customer opted out (nothing was read)
    score: TurnScore | None
    tone: ToneChoice
    decision: Decision

    def to_dict(self) -> dict[str, Any]:
        return {
            "turn": self.number,
            "text": self.turn.text,
            "opted_out": self.score is None,
            **({"unread_language": self.turn.unread_language} if self.turn.unread_language else {}),
            **(self.score.to_dict() if self.score else {}),
            "tone": self.tone.to_dict(),
            "decision": self.decision.to_dict(),
        }


@dataclass(frozen=True)
class _Carried:
    """What the empathy state slot carries from one turn to the next."""

    frustration: float = 0.0
    distress: float = 0.0
    tone: str = NEUTRAL
    tone_turns: int = 0
    misunderstood: int = 0
    history: EscalationHistory = field(default_factory=EscalationHistory)
    previous: TurnObservation | None = None


def _observation(turn: ReadTurn, failed_attempts: int | None) -> TurnObservation:
    unread = turn.unread_language is not None
    return TurnObservation(
        text=turn.text,
        emotion=None if unread else turn.emotion or None,
        cues=None if unread else turn.cues,
        embedding=None if unread else turn.embedding,
        intent=None if unread else turn.intent,
        failed_attempts=failed_attempts,
    )


def _as_stored(observation: TurnObservation) -> TurnObservation:
    """The previous message as the next turn reads it: its vector from the empathy state (packed)."""
    vector = compact_vector.pack(observation.embedding) if observation.embedding else None
    return replace(observation, embedding=compact_vector.unpack(vector), failed_attempts=None)


def explain_turn(
    number: int,
    turn: ReadTurn,
    carried: _Carried,
    policy: EmpathyPolicy,
    opted_out: bool,
    failed_attempts: int,
) -> tuple[TurnExplanation, _Carried]:
    misunderstood = carried.misunderstood + 1 if turn.not_understood else 0
    current = _observation(turn, failed_attempts)
    if opted_out:
        decision = decide(
            number,
            None,
            turn.asks_for_human,
            failed_attempts,
            carried.history,
            policy.escalation,
            misunderstood,
        )
        tone = ToneChoice(NEUTRAL, 0, "emotion processing is off for this customer")
        after = _Carried(
            0.0, 0.0, NEUTRAL, 0, misunderstood, carried.history.after(decision), _as_stored(current)
        )
        return TurnExplanation(number, turn, None, None, tone, decision), after
    signals = compute_signals(
        current,
        carried.previous,
        use_emotion=turn.unread_language is None,
        unread_because=f"message in a language the models do not read: {turn.unread_language}",
    )
    score = score_turn(signals, carried.frustration, carried.distress, policy)
    tone = choose_tone(
        score.frustration.value, score.distress.value, carried.tone, carried.tone_turns, policy.tone
    )
    decision = decide(
        number, score, turn.asks_for_human, failed_attempts, carried.history, policy.escalation, misunderstood
    )
    after = _Carried(
        # The action stores the scores rounded to four places and carries those.
        round(score.frustration.value, 4),
        round(score.distress.value, 4),
        tone.tone,
        tone.turns_held,
        misunderstood,
        carried.history.after(decision),
        _as_stored(current),
    )
    return TurnExplanation(number, turn, signals, score, tone, decision), after


def explain_conversation(
    turns: Sequence[ReadTurn], policy: EmpathyPolicy, opted_out: bool = False, failed_attempts: int = 0
) -> list[TurnExplanation]:
    """Each message's explanation, in order, each given the ones before it."""
    carried = _Carried()
    explained: list[TurnExplanation] = []
    for number, turn in enumerate(turns, 1):
        explanation, carried = explain_turn(number, turn, carried, policy, opted_out, failed_attempts)
        explained.append(explanation)
    return explained
