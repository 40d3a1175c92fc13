"""Experiments: configuration, deterministic assignment, the statistics, the verdict, and simulations."""

import math
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from bot.empathy.experiment_report import ArmData, build
from bot.empathy.experiments import (
    COLLECTING,
    INVALID,
    NO_DIFFERENCE,
    SIGNIFICANT,
    UNDERPOWERED,
    Experiment,
    ExperimentError,
    assign,
    bucket,
    chi2_sf,
    difference_of_proportions,
    parse,
    required_per_arm,
    running,
    sample_ratio,
)

ROOT = Path(__file__).resolve().parents[3]


def config(**changes: Any) -> dict[str, Any]:
    experiment = {
        "name": "tone-test",
        "start": "2027-01-01",
        "end": "2027-02-01",
        "minimum_detectable_effect": 0.05,
        "primary_metric": "self_service_success",
        "arms": [
            {"name": "neutral", "weight": 1, "adaptive": False},
            {"name": "adaptive", "weight": 1, "adaptive": True},
        ],
    }
    experiment.update(changes)
    return {"experiments": [{k: v for k, v in experiment.items() if v is not None}]}


def experiment(**changes: Any) -> Experiment:
    return parse(config(**changes))[0]


def test_the_shipped_file_is_valid_and_holds_the_first_experiment() -> None:
    found = parse(yaml.safe_load((ROOT / "policy/experiments.yml").read_text(encoding="utf-8")))
    first = found[0]
    assert first.primary_metric == "self_service_success"
    assert [(a.name, a.adaptive) for a in first.arms] == [("neutral", False), ("adaptive", True)]
    assert first.end is not None or first.sample_size is not None


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"end": None}, "fixed horizon"),
        ({"end": "2026-12-01"}, "before start"),
        ({"start": "soon"}, "start must be a date"),
        ({"sample_size": 5}, "sample_size"),
        ({"sample_size": True}, "sample_size"),
        ({"primary_metric": "happiness"}, "primary_metric"),
        ({"minimum_detectable_effect": 0}, "minimum_detectable_effect"),
        ({"minimum_detectable_effect": float("nan")}, "minimum_detectable_effect"),
        ({"minimum_detectable_effect": 5}, "below 1"),
        ({"name": "bad name!"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"arms": [{"name": "only", "weight": 1, "adaptive": True}]}, "2 to 8 arms"),
        ({"arms": [{"name": "a", "weight": 1, "adaptive": True}] * 2}, "unique"),
        (
            {
                "arms": [
                    {"name": "a", "weight": 0, "adaptive": True},
                    {"name": "b", "weight": 0, "adaptive": False},
                ]
            },
            "weight above 0",
        ),
        (
            {
                "arms": [
                    {"name": "a", "weight": -1, "adaptive": True},
                    {"name": "b", "weight": 1, "adaptive": False},
                ]
            },
            "weight",
        ),
        (
            {
                "arms": [
                    {"name": "a", "weight": 1, "adaptive": "yes"},
                    {"name": "b", "weight": 1, "adaptive": False},
                ]
            },
            "adaptive",
        ),
        (
            {
                "arms": [
                    {"name": "excluded", "weight": 1, "adaptive": True},
                    {"name": "b", "weight": 1, "adaptive": False},
                ]
            },
            "reserved",
        ),
        ({"colour": "blue"}, "unknown keys"),
        ({"enabled": "no"}, "enabled"),
    ],
)
def test_a_bad_experiment_is_refused_naming_the_key(changes: dict[str, Any], named: str) -> None:
    with pytest.raises(ExperimentError, match=named):
        parse(config(**changes))


@pytest.mark.parametrize("document", [[], "text", {"experiments": "x"}, {"other": []}])
def test_a_file_of_the_wrong_shape_is_refused(document: Any) -> None:
    with pytest.raises(ExperimentError):
        parse(document)


def test_duplicate_names_are_refused_and_an_empty_file_has_no_experiment() -> None:
    one = config()["experiments"][0]
    with pytest.raises(ExperimentError, match="unique"):
        parse({"experiments": [one, one]})
    assert parse(None) == ()


def test_an_experiment_runs_between_its_dates_and_only_when_enabled() -> None:
    found = experiment()
    assert running([found], date(2027, 1, 1)) is found
    assert running([found], date(2027, 2, 1)) is found
    assert running([found], date(2026, 12, 31)) is None
    assert running([found], date(2027, 2, 2)) is None
    assert running([experiment(enabled=False)], date(2027, 1, 15)) is None


def test_assignment_is_deterministic_and_follows_the_weights() -> None:
    found = experiment(
        arms=[
            {"name": "neutral", "weight": 1, "adaptive": False},
            {"name": "adaptive", "weight": 3, "adaptive": True},
        ]
    )
    units = [f"customer:{i}" for i in range(20_000)]
    arms = [assign(found, u).name for u in units]
    assert arms == [assign(found, u).name for u in units]
    share = Counter(arms)["adaptive"] / len(units)
    assert 0.74 < share < 0.76
    # Another experiment's split is independent of this one's.
    other = [bucket("another", u) < 0.5 for u in units[:4000]]
    mine = [bucket(found.name, u) < 0.5 for u in units[:4000]]
    agreement = sum(a == b for a, b in zip(other, mine, strict=True)) / 4000
    assert 0.46 < agreement < 0.54


def test_an_arm_of_weight_zero_gets_nobody() -> None:
    found = experiment(
        arms=[
            {"name": "neutral", "weight": 0, "adaptive": False},
            {"name": "adaptive", "weight": 1, "adaptive": True},
        ]
    )
    assert {assign(found, f"c{i}").name for i in range(500)} == {"adaptive"}


@pytest.mark.parametrize(
    ("x", "df", "expected"),
    [
        (3.841459, 1, 0.05),
        (5.991465, 2, 0.05),
        (7.814728, 3, 0.05),
        (13.276704, 4, 0.01),
        (0.0, 3, 1.0),
        (20.515, 5, 0.001),
    ],
)
def test_the_chi_square_tail_matches_the_tables(x: float, df: int, expected: float) -> None:
    assert chi2_sf(x, df) == pytest.approx(expected, abs=2e-5)


def test_the_difference_of_proportions_has_the_textbook_interval() -> None:
    found = difference_of_proportions(500, 1000, 550, 1000)
    assert found is not None
    se = math.sqrt(0.25 / 1000 + 0.55 * 0.45 / 1000)
    assert found.estimate == pytest.approx(0.05)
    assert found.high - found.estimate == pytest.approx(1.959964 * se, rel=1e-5)
    assert found.significant and found.p_value < 0.05
    assert difference_of_proportions(0, 0, 1, 2) is None
    assert difference_of_proportions(0, 10, 0, 10) is None


def test_the_sample_ratio_check_flags_a_lopsided_split() -> None:
    found = experiment()
    assert not sample_ratio(found, {"neutral": 10_000, "adaptive": 10_100}).mismatch
    assert sample_ratio(found, {"neutral": 10_000, "adaptive": 10_600}).mismatch


def test_the_sample_needed_for_five_points_on_a_half_rate_is_the_textbook_one() -> None:
    # (1.95996 + 0.84162)^2 * (0.25 + 0.2475) / 0.05^2 = 1561.9
    assert required_per_arm("self_service_success", 0.5, 0.0, 0.05) == 1562


def arms_with(rate_c: float, rate_t: float, n: int, rng: np.random.Generator) -> dict[str, ArmData]:
    def arm(rate: float) -> ArmData:
        success = (rng.random(n) < rate).astype(float)
        return ArmData(success=success, escalated=1.0 - success, length=rng.poisson(5, n).astype(float))

    return {"neutral": arm(rate_c), "adaptive": arm(rate_t)}


def test_before_the_horizon_the_verdict_is_withheld() -> None:
    found = experiment()
    report = build(found, arms_with(0.4, 0.6, 3000, np.random.default_rng(1)), date(2027, 1, 20))
    assert report["horizon_reached"] is False
    assert report["comparisons"][0]["status"] == COLLECTING
    assert "withheld" in report["comparisons"][0]["verdict"]


def test_at_the_horizon_a_small_experiment_is_called_underpowered() -> None:
    found = experiment()
    report = build(found, arms_with(0.4, 0.6, 200, np.random.default_rng(2)), date(2027, 2, 2))
    assert report["comparisons"][0]["status"] == UNDERPOWERED
    assert "underpowered" in report["comparisons"][0]["verdict"]


def test_a_sample_ratio_mismatch_refuses_any_conclusion() -> None:
    rng = np.random.default_rng(3)
    arms = arms_with(0.4, 0.6, 3000, rng)
    arms["adaptive"] = arms_with(0.6, 0.6, 3400, rng)["adaptive"]
    report = build(experiment(), arms, date(2027, 2, 2))
    assert report["sample_ratio"]["mismatch"] is True
    assert report["comparisons"][0]["status"] == INVALID


def test_a_large_effect_at_the_horizon_is_significant_and_a_sample_size_horizon_counts() -> None:
    found = experiment(end=None, sample_size=2000)
    report = build(found, arms_with(0.40, 0.50, 2000, np.random.default_rng(4)), date(2027, 1, 5))
    comparison = report["comparisons"][0]
    assert report["horizon_reached"] is True
    assert comparison["status"] == SIGNIFICANT
    assert "better" in comparison["verdict"]
    assert comparison["effects"]["self_service_success"]["low"] > 0


def test_the_simulated_interval_covers_the_true_effect_and_a_null_effect_is_rarely_significant() -> None:
    """200 simulated experiments of 2 000 conversations per arm with a known effect, and 200 without."""
    rng = np.random.default_rng(22)
    found = experiment(end=None, sample_size=2000)
    covered = significant_null = 0
    simulations = 200
    for _ in range(simulations):
        effect = build(found, arms_with(0.50, 0.56, 2000, rng), date(2027, 1, 5))["comparisons"][0]
        interval = effect["effects"]["self_service_success"]
        covered += interval["low"] <= 0.06 <= interval["high"]
        null = build(found, arms_with(0.50, 0.50, 2000, rng), date(2027, 1, 5))["comparisons"][0]
        significant_null += null["status"] == SIGNIFICANT
        assert null["status"] in (SIGNIFICANT, NO_DIFFERENCE)
    # Nominal 95% coverage and 5% false positives; the bands are ±3 binomial standard errors.
    assert 0.90 <= covered / simulations <= 0.99
    assert significant_null / simulations <= 0.095
