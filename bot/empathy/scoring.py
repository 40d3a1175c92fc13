"""Where the frustration and distress scores are computed.

Each turn's *instant* score is the weighted sum of its signals (clipped to [0, 1]); the score
that counts combines it with what carries over from the previous turn like two independent
chances: ``score = 1 - (1 - carry * previous) * (1 - instant)``.  So repeated failures build
up, one calm turn lets the score fall by the carry-over factor, and every part of the number
can be shown to an agent: each signal's value, weight and contribution, plus the carried part.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.empathy.policy import EmpathyPolicy
from bot.empathy.signals import TurnSignals


@dataclass(frozen=True)
class Score:
    value: float
    instant: float
    carried: float
    threshold: float
    contributions: dict[str, dict[str, float]]

    @property
    def over_threshold(self) -> bool:
        return self.value >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": round(self.value, 3),
            "instant": round(self.instant, 3),
            "carried": round(self.carried, 3),
            "threshold": self.threshold,
            "over_threshold": self.over_threshold,
            "contributions": self.contributions,
        }


@dataclass(frozen=True)
class TurnScore:
    frustration: Score
    distress: Score
    unavailable: tuple[str, ...]
    sources: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "frustration": self.frustration.to_dict(),
            "distress": self.distress.to_dict(),
            "sources": list(self.sources),
            "unavailable": list(self.unavailable),
        }


def _combine(
    values: Mapping[str, float], weights: Mapping[str, float], previous: float, carry: float, threshold: float
) -> Score:
    contributions = {
        name: {
            "value": round(value, 3),
            "weight": weights[name],
            "contribution": round(weights[name] * value, 3),
        }
        for name, value in sorted(values.items())
        if name in weights
    }
    instant = min(
        1.0, max(0.0, sum(weights[name] * value for name, value in values.items() if name in weights))
    )
    carried = min(1.0, max(0.0, carry * previous))
    value = 1.0 - (1.0 - carried) * (1.0 - instant)
    return Score(value, instant, carried, threshold, contributions)


def score_turn(
    signals: TurnSignals, previous_frustration: float, previous_distress: float, policy: EmpathyPolicy
) -> TurnScore:
    """This turn's frustration and distress, given the previous turn's scores (0 at the start)."""
    frustration = _combine(
        signals.values,
        policy.frustration_weights,
        previous_frustration,
        policy.frustration_carry,
        policy.frustration_threshold,
    )
    distress = _combine(
        signals.distress_values,
        policy.distress_weights,
        previous_distress,
        policy.distress_carry,
        policy.distress_threshold,
    )
    return TurnScore(frustration, distress, signals.unavailable, signals.sources)
