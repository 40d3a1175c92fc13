"""Shadow mode's pure core: the candidate's reading of a turn, and the report's arithmetic (issue 22)."""

import dataclasses
import random
from typing import Any

import pytest
from scipy import stats

from bot.empathy.escalation import HANDOFF, NONE, OFFER_CALLBACK, OFFER_HUMAN, EscalationHistory
from bot.empathy.policy import EmpathyPolicy
from bot.empathy.scoring import score_turn
from bot.empathy.shadow import (
    CandidateCarry,
    LiveTurn,
    ShadowError,
    ShadowRecord,
    parse_settings,
    pearson,
    report,
    shadow_turn,
    spearman,
)
from bot.empathy.signals import TurnSignals


def policy(offer_human_above: float = 0.6, shouting: float = 0.4) -> EmpathyPolicy:
    base = EmpathyPolicy(
        frustration_weights={"shouting": shouting, "failed_self_service": 0.3},
        distress_weights={"fear": 0.5},
    )
    return dataclasses.replace(
        base, escalation=dataclasses.replace(base.escalation, offer_human_above=offer_human_above)
    )


def live_turn(
    signals: TurnSignals, live: EmpathyPolicy, turn: int = 1, carried: float = 0.0, decision: str = NONE
) -> LiveTurn:
    return LiveTurn(
        turn=turn,
        signals=signals,
        explicit=False,
        failures=0,
        misunderstood=0,
        carried_frustration=carried,
        carried_distress=0.0,
        previous_tone=None,
        tone_turns=0,
        history=EscalationHistory(),
        score=score_turn(signals, carried, 0.0, live),
        tone="neutral",
        decision=decision,
    )


SHOUTING = TurnSignals(values={"shouting": 1.0, "failed_self_service": 0.5}, distress_values={"fear": 0.2})


def test_the_candidate_reads_the_same_signals_with_its_own_weights_and_thresholds() -> None:
    live = live_turn(SHOUTING, policy(), decision=NONE)
    record, carry = shadow_turn(live, policy(offer_human_above=0.5), None, "web:a", "lower", 7.0)
    # Same weights: the same score (0.4 + 0.15 = 0.55); only the threshold differs: 0.55 >= 0.5.
    assert record.live_frustration == record.candidate_frustration == pytest.approx(0.55)
    assert (record.live_decision, record.candidate_decision) == (NONE, OFFER_HUMAN)
    assert record.signals == {"shouting": 1.0, "failed_self_service": 0.5, "fear": 0.2}
    assert (record.conversation_id, record.candidate, record.recorded_at, record.continued) == (
        "web:a",
        "lower",
        7.0,
        False,
    )
    assert carry.turn == 1 and carry.history.last_human_offer == 1


def test_the_candidate_carries_its_own_score_only_from_the_turn_just_before() -> None:
    heavier = policy(shouting=0.8)
    own = CandidateCarry(1, 0.9, 0.0, "apologetic", 1, EscalationHistory())
    calm = TurnSignals(values={}, distress_values={})
    continued, _ = shadow_turn(live_turn(calm, policy(), 2, carried=0.2), heavier, own, "c", "n", 0.0)
    assert continued.continued and continued.candidate_frustration == pytest.approx(0.9 * 0.6)
    # A carry from an older turn (another process scored the one between): start from the live one.
    stale = dataclasses.replace(own, turn=0)
    seeded, _ = shadow_turn(live_turn(calm, policy(), 2, carried=0.2), heavier, stale, "c", "n", 0.0)
    assert not seeded.continued and seeded.candidate_frustration == pytest.approx(0.2 * 0.6)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([1], "mapping"),
        ({"enabled": "yes"}, "enabled"),
        ({"enabled": True, "name": "../etc"}, "name"),
        ({"enabled": True, "name": "x" * 65}, "name"),
        ({"enabled": True, "candidate_policy": ""}, "candidate_policy"),
        ({"enabled": True, "candiate_policy": "x.yml"}, "unknown"),
    ],
)
def test_bad_settings_name_the_key(document: Any, problem: str) -> None:
    with pytest.raises(ShadowError, match=problem):
        parse_settings(document)


def test_settings_default_to_off() -> None:
    assert not parse_settings(None).enabled
    found = parse_settings({"enabled": True, "name": "v2.1", "candidate_policy": "policy/x.yml"})
    assert (found.enabled, found.name, found.candidate_policy) == (True, "v2.1", "policy/x.yml")


def test_correlations_match_scipy_including_ties() -> None:
    rng = random.Random(5)
    x = [round(rng.random(), 1) for _ in range(200)]  # rounded: many ties
    y = [round(v * 0.7 + rng.random() * 0.3, 1) for v in x]
    assert pearson(x, y) == pytest.approx(stats.pearsonr(x, y)[0])
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y)[0])
    assert pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None and spearman([1.0], [2.0]) is None


def record(i: int, live: str, candidate: str, f: tuple[float, float] = (0.1, 0.2)) -> ShadowRecord:
    return ShadowRecord(
        conversation_id=f"web:c{i % 7}",
        turn=i,
        candidate="v2",
        live_frustration=f[0],
        candidate_frustration=f[1],
        live_distress=0.0,
        candidate_distress=0.0,
        live_decision=live,
        candidate_decision=candidate,
        live_tone="neutral",
        candidate_tone="warm" if i % 2 else "neutral",
        signals={"shouting": 0.5},
    )


def test_the_report_counts_agreement_confusion_and_changed_offers() -> None:
    # 60 agree (none), 20 only the candidate offers a person, 10 only live calls back, 10 both hand off.
    records = (
        [record(i, NONE, NONE) for i in range(60)]
        + [record(i, NONE, OFFER_HUMAN, (0.5, 0.7)) for i in range(60, 80)]
        + [record(i, OFFER_CALLBACK, NONE) for i in range(80, 90)]
        + [record(i, HANDOFF, HANDOFF) for i in range(90, 100)]
    )
    found = report(records, examples=3)
    assert found["records"] == 100 and found["conversations"] == 7
    assert found["decision_agreement"] == 0.7 and found["decisions_differ"] == 30
    assert found["confusion"][NONE] == {NONE: 60, HANDOFF: 0, OFFER_HUMAN: 20, OFFER_CALLBACK: 0}
    assert found["confusion"][OFFER_CALLBACK][NONE] == 10
    assert found["tone_agreement"] == 0.5
    human = found["offers_changed"][OFFER_HUMAN]
    assert (human["live"], human["candidate"], human["added"], human["removed"]) == (0, 20, 20, 0)
    assert [e["turn"] for e in human["examples"]["added"]] == [60, 61, 62]
    assert human["examples"]["added"][0]["frustration"] == {"live": 0.5, "candidate": 0.7}
    callback = found["offers_changed"][OFFER_CALLBACK]
    assert (callback["added"], callback["removed"], len(callback["examples"]["removed"])) == (0, 10, 3)
    assert found["offers_changed"][HANDOFF]["added"] == found["offers_changed"][HANDOFF]["removed"] == 0
    assert found["frustration"]["mean_abs_difference"] == pytest.approx(0.8 * 0.1 + 0.2 * 0.2)


def test_an_empty_report_says_so_and_examples_are_bounded() -> None:
    empty = report([])
    assert empty["records"] == 0 and empty["decision_agreement"] is None
    assert empty["frustration"]["pearson"] is None
    with pytest.raises(ValueError, match="examples"):
        report([], examples=101)
