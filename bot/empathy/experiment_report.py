"""An experiment's report from per-conversation outcomes: per-arm numbers, effects, SRM, verdict.

Pure (numpy).  The caller reads the outcomes (handoff/analytics/experiment_report.py reads the
analytics tables); a simulation can hand in synthetic ones, which is how the statistics are tested.
The verdict follows the fixed-horizon design of bot/empathy/experiments.py: withheld before the
horizon, refused when the sample ratio is off or the arms are too small for the minimum
detectable effect, and otherwise said in plain words.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from bot.empathy.experiments import (
    ALPHA,
    COLLECTING,
    HIGHER_IS_BETTER,
    INVALID,
    METRICS,
    NO_DIFFERENCE,
    PROPORTIONS,
    SIGNIFICANT,
    UNDERPOWERED,
    Effect,
    Experiment,
    Metric,
    Status,
    difference_of_means,
    difference_of_proportions,
    required_per_arm,
    sample_ratio,
)

Floats = npt.NDArray[np.float64]
EMPTY: Final = np.zeros(0)


@dataclass(frozen=True)
class ArmData:
    """One arm's exposed conversations.  ``success``, ``escalated`` and ``length`` have one value per
    conversation; the others only where the conversation has one (a CSAT answer, two scored turns,
    an escalation).
    """

    success: Floats = field(default_factory=lambda: EMPTY)
    escalated: Floats = field(default_factory=lambda: EMPTY)
    length: Floats = field(default_factory=lambda: EMPTY)
    csat: Floats = field(default_factory=lambda: EMPTY)
    frustration_slope: Floats = field(default_factory=lambda: EMPTY)
    time_to_escalation: Floats = field(default_factory=lambda: EMPTY)

    @property
    def n(self) -> int:
        return int(self.success.size)

    def values(self, metric: Metric) -> Floats:
        return {
            "self_service_success": self.success,
            "escalation_rate": self.escalated,
            "csat": self.csat,
            "frustration_slope": self.frustration_slope,
            "time_to_escalation": self.time_to_escalation,
            "conversation_length": self.length,
        }[metric]


def effect(metric: Metric, control: ArmData, treatment: ArmData, alpha: float = ALPHA) -> Effect | None:
    c, t = control.values(metric), treatment.values(metric)
    if metric in PROPORTIONS:
        return difference_of_proportions(int(c.sum()), c.size, int(t.sum()), t.size, alpha)
    return difference_of_means(c, t, alpha)


def _summary(data: ArmData) -> dict[str, Any]:
    out: dict[str, Any] = {"conversations": data.n}
    for metric in METRICS:
        values = data.values(metric)
        out[metric] = {"n": int(values.size), "mean": round(float(values.mean()), 6) if values.size else None}
    return out


def horizon_reached(experiment: Experiment, counts: Mapping[str, int], today: date) -> bool:
    """The fixed horizon: the day after ``end``, or every weighted arm at ``sample_size``."""
    if experiment.end is not None and today > experiment.end:
        return True
    sizes = [counts.get(a.name, 0) for a in experiment.arms if a.weight > 0]
    return experiment.sample_size is not None and min(sizes) >= experiment.sample_size


def _progress(experiment: Experiment, counts: Mapping[str, int]) -> str:
    smallest = min(counts.get(a.name, 0) for a in experiment.arms if a.weight > 0)
    parts = []
    if experiment.sample_size is not None:
        parts.append(f"{smallest:,} of {experiment.sample_size:,} conversations in the smallest arm")
    if experiment.end is not None:
        parts.append(f"runs to {experiment.end.isoformat()}")
    return "; ".join(parts)


def _points(metric: Metric, value: float) -> str:
    return f"{value * 100:+.1f} points" if metric in PROPORTIONS else f"{value:+.3g}"


def _verdict(
    experiment: Experiment,
    arm: str,
    found: Effect | None,
    required: int,
    smallest: int,
    progress: str | None,
    mismatch: bool,
) -> tuple[Status, str]:
    """Plain words for one comparison; ``progress`` is None once the horizon is reached."""
    metric, control = experiment.primary_metric, experiment.control.name
    if mismatch:
        return INVALID, (
            "No conclusion: the arms' sizes do not match their weights (sample-ratio mismatch), so "
            "assignment or exposure logging is broken. Fix that before reading any effect."
        )
    if progress is not None:
        return COLLECTING, (
            f"Still collecting ({progress}). The verdict "
            "is withheld until the fixed horizon: looking earlier would find effects that are not there."
        )
    if found is None or smallest < required:
        return UNDERPOWERED, (
            f"No conclusion: the horizon is reached with {smallest:,} conversations in the smallest arm, "
            f"but detecting {_points(metric, experiment.minimum_detectable_effect)} on {metric} needs "
            f"{required:,} per arm. The experiment is underpowered; run it longer or accept a larger effect."
        )
    low, high = _points(metric, found.low), _points(metric, found.high)
    ci = f"{_points(metric, found.estimate)} (95% CI {low} to {high})"
    if found.significant:
        better = HIGHER_IS_BETTER[metric]
        way = "" if better is None else (" — better" if (found.estimate > 0) == better else " — worse")
        return SIGNIFICANT, f"{arm} differs from {control} on {metric}: {ci}{way}. This is significant."
    return NO_DIFFERENCE, (
        f"No difference detected on {metric} between {arm} and {control}: {ci}. An effect of "
        f"{_points(metric, experiment.minimum_detectable_effect)} would have been seen 80% of the time."
    )


def build(
    experiment: Experiment,
    arms: Mapping[str, ArmData],
    today: date,
    excluded: int = 0,
    alpha: float = ALPHA,
) -> dict[str, Any]:
    """The report: per-arm outcomes, each arm against the control, the SRM check and the verdicts."""
    counts = {a.name: arms.get(a.name, ArmData()).n for a in experiment.arms}
    srm = sample_ratio(experiment, counts)
    reached = horizon_reached(experiment, counts, today)
    control = arms.get(experiment.control.name, ArmData())
    baseline = control.values(experiment.primary_metric)
    required = required_per_arm(
        experiment.primary_metric,
        float(baseline.mean()) if baseline.size else 0.0,
        float(baseline.std(ddof=1)) if baseline.size > 1 else 0.0,
        experiment.minimum_detectable_effect,
        alpha,
    )
    comparisons = []
    for arm in experiment.arms[1:]:
        data = arms.get(arm.name, ArmData())
        effects = {m: effect(m, control, data, alpha) for m in METRICS}
        status, text = _verdict(
            experiment,
            arm.name,
            effects[experiment.primary_metric],
            required,
            min(control.n, data.n),
            None if reached else _progress(experiment, counts),
            srm.mismatch,
        )
        comparisons.append(
            {
                "arm": arm.name,
                "against": experiment.control.name,
                "effects": {m: (e.to_dict() if e else None) for m, e in effects.items()},
                "status": status,
                "verdict": text,
            }
        )
    return {
        "experiment": experiment.name,
        "primary_metric": experiment.primary_metric,
        "minimum_detectable_effect": experiment.minimum_detectable_effect,
        "design": "fixed horizon: verdict withheld before it",
        "start": experiment.start.isoformat(),
        "end": experiment.end.isoformat() if experiment.end else None,
        "sample_size_per_arm": experiment.sample_size,
        "required_per_arm": required,
        "horizon_reached": reached,
        "alpha": alpha,
        "excluded_opted_out": excluded,
        "arms": {
            a.name: {**_summary(arms.get(a.name, ArmData())), "weight": a.weight} for a in experiment.arms
        },
        "sample_ratio": srm.to_dict(),
        "comparisons": comparisons,
    }
