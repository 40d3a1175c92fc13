import itertools

import pytest

from bot.empathy.policy import EmpathyPolicy
from bot.empathy.scoring import score_turn
from bot.empathy.signals import TurnSignals


def make_policy(carry: float = 0.5) -> EmpathyPolicy:
    return EmpathyPolicy(
        frustration_weights={"shouting": 0.4, "failed_self_service": 0.3, "fast_reply": -0.5},
        distress_weights={"fear": 0.5},
        frustration_carry=carry,
        distress_carry=0.5,
        frustration_threshold=0.5,
        distress_threshold=0.5,
    )


def signals(**values: float) -> TurnSignals:
    return TurnSignals(values=dict(values), distress_values={})


def test_score_combines_carry_over_and_instant() -> None:
    score = score_turn(signals(shouting=0.5), 0.4, 0.0, make_policy(carry=0.5)).frustration
    # instant 0.4 * 0.5 = 0.2; carried 0.5 * 0.4 = 0.2; 1 - (1 - 0.2) * (1 - 0.2) = 0.36
    assert score.instant == pytest.approx(0.2)
    assert score.carried == pytest.approx(0.2)
    assert score.value == pytest.approx(0.36)


def test_calm_turn_lets_score_fall_by_carry_factor() -> None:
    score = score_turn(signals(), 0.8, 0.0, make_policy(carry=0.5)).frustration
    assert score.value == pytest.approx(0.4)


def test_contributions_list_value_weight_and_contribution() -> None:
    score = score_turn(signals(shouting=0.5, failed_self_service=1.0), 0.0, 0.0, make_policy()).frustration
    assert score.contributions == {
        "failed_self_service": {"value": 1.0, "weight": 0.3, "contribution": 0.3},
        "shouting": {"value": 0.5, "weight": 0.4, "contribution": 0.2},
    }


def test_signals_without_a_weight_are_ignored() -> None:
    score = score_turn(signals(sarcasm=1.0), 0.0, 0.0, make_policy()).frustration
    assert score.contributions == {}
    assert score.value == 0.0


def test_repeated_failures_build_up_monotonically() -> None:
    policy = make_policy(carry=0.6)
    previous = 0.0
    history = []
    for _ in range(5):
        previous = score_turn(signals(failed_self_service=1.0), previous, 0.0, policy).frustration.value
        history.append(previous)
    assert all(later > earlier for earlier, later in itertools.pairwise(history))
    assert history[0] == pytest.approx(0.3)
    assert history[-1] < 1.0


def test_instant_score_is_clipped_to_one() -> None:
    score = score_turn(signals(shouting=3.0), 0.0, 0.0, make_policy()).frustration
    assert score.instant == 1.0
    assert score.value == 1.0


def test_negative_weights_cannot_push_score_below_zero() -> None:
    score = score_turn(signals(fast_reply=1.0), 0.0, 0.0, make_policy()).frustration
    assert score.instant == 0.0
    assert score.value == 0.0


def test_carried_part_is_clipped_to_one() -> None:
    policy = make_policy(carry=1.0)
    score = score_turn(signals(), 5.0, 0.0, policy).frustration
    assert score.carried == 1.0
    assert score.value == 1.0


def test_distress_uses_distress_weights_and_threshold() -> None:
    turn_signals = TurnSignals(values={}, distress_values={"fear": 1.0})
    distress = score_turn(turn_signals, 0.0, 0.6, make_policy()).distress
    # instant 0.5, carried 0.3 -> 1 - 0.7 * 0.5 = 0.65
    assert distress.value == pytest.approx(0.65)
    assert distress.over_threshold is True


def test_over_threshold_is_inclusive() -> None:
    score = score_turn(signals(shouting=1.0, failed_self_service=1.0 / 3), 0.0, 0.0, make_policy())
    assert score.frustration.value == pytest.approx(0.5)
    assert score.frustration.over_threshold is True
    assert score_turn(signals(shouting=1.0), 0.0, 0.0, make_policy()).frustration.over_threshold is False


def test_turn_score_to_dict_carries_sources_and_unavailable() -> None:
    turn_signals = TurnSignals({"shouting": 1.0}, {}, unavailable=("timestamps",), sources=("message cues",))
    payload = score_turn(turn_signals, 0.0, 0.0, make_policy()).to_dict()
    assert payload["frustration"]["score"] == 0.4
    assert payload["frustration"]["over_threshold"] is False
    assert payload["unavailable"] == ["timestamps"]
    assert payload["sources"] == ["message cues"]
