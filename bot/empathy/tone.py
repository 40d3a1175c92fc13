"""Where the tone is chosen: neutral, warm, apologetic or calm-and-direct, with hysteresis.

Tones are ordered by how much the conversation needs them.  A higher tone is taken as soon as
the frustration score reaches its threshold; a tone is only left once the score has fallen
``hysteresis`` below the threshold that brought it *and* it has been held ``min_turns`` turns,
so a customer does not see the bot switch register on every message.  Distress alone asks
for warmth.  The tone changes wording only: it never changes what is offered.
"""

from dataclasses import dataclass
from typing import Any, Final

from bot.empathy.policy import ToneThresholds

NEUTRAL: Final = "neutral"
WARM: Final = "warm"
APOLOGETIC: Final = "apologetic"
CALM_DIRECT: Final = "calm_direct"
TONES: Final = (NEUTRAL, WARM, APOLOGETIC, CALM_DIRECT)


@dataclass(frozen=True)
class ToneChoice:
    tone: str
    turns_held: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"tone": self.tone, "turns_held": self.turns_held, "reason": self.reason}


def _entry_threshold(tone: str, limits: ToneThresholds) -> float:
    return {
        NEUTRAL: 0.0,
        WARM: limits.warm_above,
        APOLOGETIC: limits.apologetic_above,
        CALM_DIRECT: limits.calm_direct_above,
    }[tone]


def _target(frustration: float, distress: float, limits: ToneThresholds) -> str:
    if frustration >= limits.calm_direct_above:
        return CALM_DIRECT
    if frustration >= limits.apologetic_above:
        return APOLOGETIC
    if frustration >= limits.warm_above or distress >= limits.distress_warm_above:
        return WARM
    return NEUTRAL


def choose_tone(
    frustration: float, distress: float, previous: str | None, turns_held: int, limits: ToneThresholds
) -> ToneChoice:
    """The tone for this turn, given the previous tone and how many turns it has been held."""
    current = previous if previous in TONES else NEUTRAL
    target = _target(frustration, distress, limits)
    rank = TONES.index
    if rank(target) > rank(current):
        return ToneChoice(
            target, 1, f"frustration {frustration:.2f} / distress {distress:.2f} reached {target}"
        )
    if target == current:
        return ToneChoice(current, turns_held + 1, "unchanged")
    # The target is lower: step down only past the hysteresis band and after the minimum hold.
    needs_warmth = current == WARM and distress >= limits.distress_warm_above - limits.hysteresis
    below_band = frustration < _entry_threshold(current, limits) - limits.hysteresis and not needs_warmth
    if below_band and turns_held >= limits.min_turns:
        return ToneChoice(
            target, 1, f"frustration fell to {frustration:.2f}, below {current} minus hysteresis"
        )
    return ToneChoice(current, turns_held + 1, f"held {current} (hysteresis)")
