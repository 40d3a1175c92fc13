"""The tone experiment in action_track_empathy: only the wording differs between arms (issue 22)."""

from datetime import datetime, timezone
from typing import Any

import pytest

from actions import experiment_arm
from actions.consent import METADATA_KEY
from actions.empathy_tracking import ActionTrackEmpathy, stored
from bot.empathy.experiments import EXCLUDED, Experiment, ExperimentError, parse
from tests.support.trackers import generated_turns, message, tracker

NOW = datetime(2027, 1, 10, 12, tzinfo=timezone.utc).timestamp()
# What the engine decides; only the tone slot and the turn record's tone may differ between arms.
DECISION_SLOTS = ("escalation", "empathy_explanation", "frustration", "distress", "failed_attempts")


def experiment(neutral: float, adaptive: float, enabled: bool = True) -> Experiment:
    return parse(
        {
            "experiments": [
                {
                    "name": "tone-test",
                    "enabled": enabled,
                    "start": "2027-01-01",
                    "end": "2027-02-01",
                    "minimum_detectable_effect": 0.05,
                    "primary_metric": "self_service_success",
                    "arms": [
                        {"name": "neutral", "weight": neutral, "adaptive": False},
                        {"name": "adaptive", "weight": adaptive, "adaptive": True},
                    ],
                }
            ]
        }
    )[0]


NEUTRAL_ARM = experiment(1, 0)
ADAPTIVE_ARM = experiment(0, 1)


def converse(found: Experiment, seed: int, opted_out: bool = False) -> list[dict[str, Any]]:
    """Every event each turn decided (what the audit trail sees), turn by turn, slots carried over."""
    action = ActionTrackEmpathy(experiments=lambda: (found,), clock=lambda: NOW)
    slots: dict[str, Any] = {"emotion_opt_out": opted_out}
    events: list[dict[str, Any]] = []
    decided = []
    for event, failures in generated_turns(seed):
        events.append(event)
        slots["failed_attempts"] = failures
        current = tracker(dict(slots), list(events), sender=f"web:conversation-{seed}")
        turn = action.track(current)
        kept = stored(current, turn)
        for slot_event in kept:
            slots[slot_event["name"]] = slot_event["value"]
            events.append(slot_event)
        decided.append({e["name"]: e["value"] for e in turn})
        events.append({"event": "bot", "timestamp": event["timestamp"] + 1, "text": "..."})
    return decided


def decisions(turn: dict[str, Any]) -> dict[str, Any]:
    state = {k: v for k, v in turn["empathy_state"].items() if k not in ("experiment", "adaptive_tone")}
    record = {k: v for k, v in turn["turn_record"].items() if k != "tone"}
    explanation = dict(turn["empathy_explanation"])
    explanation.pop("experiment", None)
    return {
        **{k: turn.get(k) for k in DECISION_SLOTS if k != "empathy_explanation"},
        "explanation": explanation,
        "state": state,
        "record": record,
    }


def test_escalation_distress_and_call_backs_are_identical_in_both_arms_over_many_conversations() -> None:
    differing_wording = exposures = 0
    kinds: set[str] = set()
    for seed in range(200):
        neutral, adaptive = converse(NEUTRAL_ARM, seed), converse(ADAPTIVE_ARM, seed)
        kinds |= {t["escalation"] for t in neutral}
        assert [decisions(t) for t in neutral] == [decisions(t) for t in adaptive], seed
        # The neutral arm's wording is always neutral; the adaptive arm's is the engine's tone.
        assert {t["tone"] for t in neutral} == {"neutral"}
        assert [t["tone"] for t in adaptive] == [t["empathy_explanation"]["tone"]["tone"] for t in neutral]
        differing_wording += any(t["tone"] != "neutral" for t in adaptive)
        # Exposure: at the same turn in both arms, the first the arms word differently.
        where = [[i for i, t in enumerate(arm) if "experiment_exposure" in t] for arm in (neutral, adaptive)]
        assert where[0] == where[1]
        first_adapted = next((i for i, t in enumerate(adaptive) if t["tone"] != "neutral"), None)
        assert where[1] == ([] if first_adapted is None else [first_adapted])
        exposures += bool(where[1])
    # The generated conversations exercise the tones, the offers and the exposures.
    assert differing_wording > 50 and exposures == differing_wording
    assert {"offer_human", "offer_callback", "handoff"} <= kinds


def test_the_exposure_names_the_experiment_and_the_arm() -> None:
    seed = next(s for s in range(200) if any(t["tone"] != "neutral" for t in converse(ADAPTIVE_ARM, s)))
    for found, arm in ((NEUTRAL_ARM, "neutral"), (ADAPTIVE_ARM, "adaptive")):
        exposed = [t["experiment_exposure"] for t in converse(found, seed) if "experiment_exposure" in t]
        assert exposed == [{"experiment": "tone-test", "variant": arm}]


def test_an_opted_out_customer_is_excluded_once_and_never_assigned() -> None:
    turns = converse(experiment(1, 1), 7, opted_out=True)
    exposures = [t["experiment_exposure"] for t in turns if "experiment_exposure" in t]
    assert exposures == [{"experiment": "tone-test", "variant": EXCLUDED}]
    assert {t["tone"] for t in turns} == {"neutral"}
    assert all(t["empathy_state"]["experiment"]["arm"] == EXCLUDED for t in turns)


def test_without_a_running_experiment_the_bot_adapts_and_logs_nothing() -> None:
    seed = 3
    off = converse(experiment(1, 0, enabled=False), seed)
    assert [t["tone"] for t in off] == [t["tone"] for t in converse(ADAPTIVE_ARM, seed)]
    assert not any("experiment_exposure" in t or "experiment" in t["empathy_state"] for t in off)


def test_a_broken_experiments_file_costs_no_turn(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> tuple[Experiment, ...]:
        raise ExperimentError("policy/experiments.yml: arms must be a list")

    action = ActionTrackEmpathy(experiments=broken, clock=lambda: NOW)
    turn = {
        e["name"]: e["value"] for e in action.track(tracker({}, [message("USELESS!!!", "complain", "anger")]))
    }
    assert turn["escalation"] is not None and "experiment_exposure" not in turn
    assert "experiments unavailable" in caplog.text


def test_the_unit_is_the_verified_customer_never_a_typed_email() -> None:
    verified = message("hi", "greet") | {"metadata": {METADATA_KEY: {"customer": "cust-42"}}}
    assert (
        experiment_arm.unit_of(tracker({"email": "x@example.com"}, [verified]), verified)
        == "customer:cust-42"
    )
    anonymous = message("hi", "greet")
    unit = experiment_arm.unit_of(
        tracker({"email": "x@example.com"}, [anonymous], sender="web:abc"), anonymous
    )
    assert unit == "conversation:web:abc"


def test_the_arm_sticks_for_the_conversation_even_when_the_unit_changes() -> None:
    found = experiment(1, 1)
    first = experiment_arm.apply(found, None, "customer:a", "warm")
    units = (f"customer:{i}" for i in range(1000))
    other = next(u for u in units if experiment_arm.apply(found, None, u, "warm").state != first.state)
    again = experiment_arm.apply(found, first.state, other, "apologetic")
    assert again.state is not None and first.state is not None
    assert again.state["arm"] == first.state["arm"] and again.exposure is None


@pytest.mark.parametrize(
    "carried", ["x", {"name": "tone-test", "arm": "no-such-arm"}, {"name": "old", "arm": "neutral"}, 7]
)
def test_a_hostile_or_stale_state_entry_is_reassigned(carried: Any) -> None:
    applied = experiment_arm.apply(experiment(1, 1), carried, "customer:a", "warm")
    assert applied.state is not None and applied.state["arm"] in ("neutral", "adaptive")
    assert applied.exposure == {"experiment": "tone-test", "variant": applied.state["arm"]}


def test_the_experiments_file_is_loaded_and_bad_ones_name_the_problem(tmp_path: Any) -> None:
    assert experiment_arm.load("policy/experiments.yml")[0].name == "adaptive-tone-v1"
    bad = tmp_path / "experiments.yml"
    bad.write_text("experiments: [", encoding="utf-8")
    with pytest.raises(ExperimentError, match="not valid YAML"):
        experiment_arm.load(bad)
    with pytest.raises(ExperimentError, match="cannot read"):
        experiment_arm.load(tmp_path / "missing.yml")
