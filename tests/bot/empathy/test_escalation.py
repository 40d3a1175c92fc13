import pytest

from bot.empathy.escalation import (
    HANDOFF,
    NONE,
    OFFER_CALLBACK,
    OFFER_HUMAN,
    PRIORITY_HIGH,
    PRIORITY_NORMAL,
    PRIORITY_URGENT,
    Decision,
    EscalationHistory,
    decide,
)
from bot.empathy.policy import EscalationRules
from bot.empathy.scoring import Score, TurnScore

# Defaults: offer_human_above 0.60, after 2 failures, callback 0.60, priority 0.45, cooldown 3 turns.
RULES = EscalationRules()
NEVER = EscalationHistory()


def make_score(frustration: float = 0.0, distress: float = 0.0) -> TurnScore:
    return TurnScore(
        frustration=Score(frustration, frustration, 0.0, 0.5, {}),
        distress=Score(distress, distress, 0.0, 0.5, {}),
        unavailable=(),
        sources=(),
    )


def test_calm_turn_needs_nothing() -> None:
    decision = decide(1, make_score(0.1, 0.1), False, 0, NEVER, RULES)
    assert (decision.kind, decision.reasons) == (NONE, ())


def test_explicit_request_hands_off_with_normal_priority() -> None:
    decision = decide(2, make_score(0.1, 0.1), True, 0, NEVER, RULES)
    assert (decision.kind, decision.priority) == (HANDOFF, PRIORITY_NORMAL)


def test_explicit_request_from_distressed_customer_is_high_priority() -> None:
    decision = decide(2, make_score(0.0, 0.5), True, 0, NEVER, RULES)
    assert (decision.kind, decision.priority) == (HANDOFF, PRIORITY_HIGH)


def test_explicit_request_wins_over_distress_callback() -> None:
    assert decide(2, make_score(0.9, 0.9), True, 5, NEVER, RULES).kind == HANDOFF


def test_explicit_request_when_opted_out_hands_off() -> None:
    decision = decide(2, None, True, 0, NEVER, RULES)
    assert (decision.kind, decision.priority) == (HANDOFF, PRIORITY_NORMAL)


def test_distress_offers_urgent_callback() -> None:
    decision = decide(3, make_score(0.0, 0.7), False, 0, NEVER, RULES)
    assert (decision.kind, decision.priority, decision.turn) == (OFFER_CALLBACK, PRIORITY_URGENT, 3)
    assert decision.reasons == ("distress 0.70 >= 0.6",)


def test_frustration_over_threshold_offers_a_human() -> None:
    decision = decide(4, make_score(0.65, 0.0), False, 0, NEVER, RULES)
    assert (decision.kind, decision.priority) == (OFFER_HUMAN, PRIORITY_NORMAL)
    assert decision.reasons == ("frustration 0.65 >= 0.6",)


def test_frustration_just_below_threshold_offers_nothing() -> None:
    assert decide(4, make_score(0.59, 0.0), False, 0, NEVER, RULES).kind == NONE


def test_repeated_failures_offer_a_human_even_when_opted_out() -> None:
    decision = decide(4, None, False, RULES.offer_human_after_failures, NEVER, RULES)
    assert decision.kind == OFFER_HUMAN
    assert decision.reasons == ("2 failed self-service attempts >= 2",)


def test_one_failure_when_opted_out_offers_nothing() -> None:
    assert decide(4, None, False, 1, NEVER, RULES).kind == NONE


def test_cooldown_prevents_repeating_the_human_offer() -> None:
    first = decide(4, make_score(0.8), False, 0, NEVER, RULES)
    history = NEVER.after(first)
    repeat = decide(4 + RULES.cooldown_turns, make_score(0.8), False, 0, history, RULES)
    assert repeat.kind == NONE
    assert "an offer was made recently (cooldown)" in repeat.reasons
    later = decide(5 + RULES.cooldown_turns, make_score(0.8), False, 0, history, RULES)
    assert later.kind == OFFER_HUMAN


def test_callback_cooldown_falls_through_to_human_offer() -> None:
    history = EscalationHistory(last_human_offer=-1, last_callback_offer=3)
    decision = decide(4, make_score(0.7, 0.7), False, 0, history, RULES)
    assert (decision.kind, decision.priority) == (OFFER_HUMAN, PRIORITY_HIGH)


def test_history_records_offers_but_not_handoffs() -> None:
    history = NEVER.after(Decision(OFFER_CALLBACK, PRIORITY_URGENT, (), 2))
    history = history.after(Decision(OFFER_HUMAN, PRIORITY_NORMAL, (), 5))
    history = history.after(Decision(HANDOFF, PRIORITY_NORMAL, (), 7))
    assert history == EscalationHistory(last_human_offer=5, last_callback_offer=2)


def test_history_round_trips_through_dict() -> None:
    history = EscalationHistory(last_human_offer=4, last_callback_offer=9)
    assert history.to_dict() == {"last_human_offer": 4, "last_callback_offer": 9}
    assert EscalationHistory.from_dict(history.to_dict()) == history


@pytest.mark.parametrize("garbage", [None, "turn 4", 42, ["last_human_offer", 4], {}])
def test_history_from_garbage_is_never_offered(garbage: object) -> None:
    assert EscalationHistory.from_dict(garbage) == EscalationHistory(-1, -1)


def test_history_from_dict_with_wrong_types_falls_back_per_field() -> None:
    history = EscalationHistory.from_dict({"last_human_offer": "4", "last_callback_offer": 2})
    assert history == EscalationHistory(last_human_offer=-1, last_callback_offer=2)


def test_decision_to_dict() -> None:
    decision = decide(6, make_score(0.0, 0.7), False, 0, NEVER, RULES)
    assert decision.to_dict() == {
        "decision": OFFER_CALLBACK,
        "priority": PRIORITY_URGENT,
        "reasons": ["distress 0.70 >= 0.6"],
        "turn": 6,
    }


def test_four_messages_in_a_row_not_understood_offer_a_human() -> None:
    # A fact about the bot, not a feeling: it holds for a customer who opted out (score None) too.
    for score in (make_score(0.1, 0.0), None):
        decision = decide(5, score, False, 0, NEVER, RULES, misunderstood=4)
        assert decision.kind == OFFER_HUMAN
        assert decision.reasons == ("4 messages in a row not understood >= 4",)


def test_three_messages_not_understood_offer_nothing_yet() -> None:
    assert decide(5, make_score(0.1, 0.0), False, 0, NEVER, RULES, misunderstood=3).kind == NONE


def test_zero_switches_the_misunderstanding_rule_off() -> None:
    rules = EscalationRules(offer_human_after_misunderstandings=0)
    assert decide(5, make_score(0.1, 0.0), False, 0, NEVER, rules, misunderstood=9).kind == NONE


def test_the_misunderstanding_offer_respects_the_cooldown() -> None:
    offered = EscalationHistory(last_human_offer=4)
    decision = decide(5, make_score(0.1, 0.0), False, 0, offered, RULES, misunderstood=5)
    assert decision.kind == NONE and "cooldown" in decision.reasons[-1]
