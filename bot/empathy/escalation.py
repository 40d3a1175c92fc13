"""Where escalation is decided: hand off, offer a human, or offer a call-back — all in one place.

The rules, in order (thresholds from ``policy/empathy.yml``):
1. The customer explicitly asks for a human -> hand off (high priority when distressed).
2. Distress over its threshold -> offer a phone call-back, urgent priority.
3. Frustration over its threshold, N failed self-service attempts in a row, or M messages in a row
   the bot could not understand or help with -> offer a human.
An offer is not repeated within ``cooldown_turns`` turns, so a customer who said no is not
asked again on every message.  Each decision carries the reasons and numbers behind it.
"""

from dataclasses import dataclass, field
from typing import Any, Final

from bot.empathy.policy import EscalationRules
from bot.empathy.scoring import TurnScore

NONE: Final = "none"
HANDOFF: Final = "handoff"
OFFER_HUMAN: Final = "offer_human"
OFFER_CALLBACK: Final = "offer_callback"
DECISIONS: Final = (NONE, HANDOFF, OFFER_HUMAN, OFFER_CALLBACK)

PRIORITY_NORMAL: Final = "normal"
PRIORITY_HIGH: Final = "high"
PRIORITY_URGENT: Final = "urgent"


@dataclass(frozen=True)
class Decision:
    kind: str
    priority: str
    reasons: tuple[str, ...] = field(default_factory=tuple)
    turn: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.kind,
            "priority": self.priority,
            "reasons": list(self.reasons),
            "turn": self.turn,
        }


@dataclass(frozen=True)
class EscalationHistory:
    """The turns at which offers were last made (-1: never); kept in a slot between turns."""

    last_human_offer: int = -1
    last_callback_offer: int = -1

    def after(self, decision: Decision) -> "EscalationHistory":
        if decision.kind == OFFER_HUMAN:
            return EscalationHistory(decision.turn, self.last_callback_offer)
        if decision.kind == OFFER_CALLBACK:
            return EscalationHistory(self.last_human_offer, decision.turn)
        return self

    def to_dict(self) -> dict[str, int]:
        return {"last_human_offer": self.last_human_offer, "last_callback_offer": self.last_callback_offer}

    @classmethod
    def from_dict(cls, value: object) -> "EscalationHistory":
        if not isinstance(value, dict):
            return cls()
        human, callback = value.get("last_human_offer", -1), value.get("last_callback_offer", -1)
        return cls(human if isinstance(human, int) else -1, callback if isinstance(callback, int) else -1)


def _cooled(last: int, turn: int, rules: EscalationRules) -> bool:
    return last < 0 or turn - last > rules.cooldown_turns


def decide(
    turn: int,
    score: TurnScore | None,
    explicit_request: bool,
    failed_attempts: int,
    history: EscalationHistory,
    rules: EscalationRules,
    misunderstood: int = 0,
) -> Decision:
    """The decision for this turn; ``score`` is None when the customer opted out of emotion analysis."""
    distress = score.distress.value if score else 0.0
    frustration = score.frustration.value if score else 0.0
    if explicit_request:
        priority = PRIORITY_HIGH if distress >= rules.priority_distress_above else PRIORITY_NORMAL
        return Decision(HANDOFF, priority, ("the customer asked for a human",), turn)
    if (
        score
        and distress >= rules.callback_distress_above
        and _cooled(history.last_callback_offer, turn, rules)
    ):
        reason = f"distress {distress:.2f} >= {rules.callback_distress_above}"
        return Decision(OFFER_CALLBACK, PRIORITY_URGENT, (reason,), turn)
    reasons = []
    if score and frustration >= rules.offer_human_above:
        reasons.append(f"frustration {frustration:.2f} >= {rules.offer_human_above}")
    if failed_attempts >= rules.offer_human_after_failures:
        reasons.append(
            f"{failed_attempts} failed self-service attempts >= {rules.offer_human_after_failures}"
        )
    if (
        rules.offer_human_after_misunderstandings
        and misunderstood >= rules.offer_human_after_misunderstandings
    ):
        reasons.append(
            f"{misunderstood} messages in a row not understood >= {rules.offer_human_after_misunderstandings}"
        )
    if reasons and _cooled(history.last_human_offer, turn, rules):
        priority = PRIORITY_HIGH if distress >= rules.priority_distress_above else PRIORITY_NORMAL
        return Decision(OFFER_HUMAN, priority, tuple(reasons), turn)
    if reasons:
        return Decision(NONE, PRIORITY_NORMAL, (*reasons, "an offer was made recently (cooldown)"), turn)
    return Decision(NONE, PRIORITY_NORMAL, (), turn)
