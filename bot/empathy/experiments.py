"""Experiments on the bot's wording (issue 22): who is in which arm, and what the numbers say.

Pure: stdlib + numpy.  The YAML is parsed by the caller (``policy/experiments.yml``).

- **Assignment** is deterministic: a SHA-256 of the experiment's name and the unit (the pseudonymous
  customer id, or the conversation id for an anonymous customer) places the unit on [0, 1), and the
  arms' weights cut that line.  The same customer is in the same arm on every channel, and renaming
  the experiment reshuffles everyone (a new experiment must not inherit the last one's split).
- **Who takes part:** a customer who opted out of emotion processing gets no adaptive tone in any
  arm, so is not assigned at all: the caller logs them as ``EXCLUDED``.
- **Statistics:** a fixed-horizon design.  Differences of proportions and of means with 95% normal
  (Wald / Welch) intervals, a chi-square sample-ratio-mismatch test, and a verdict that is withheld
  until the horizon (end date or sample size) is reached, and refused at the horizon when the arms
  hold fewer conversations than the minimum detectable effect needs.  Peeking before the horizon
  would inflate false positives; the report shows progress instead of a verdict.
"""

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from statistics import NormalDist
from typing import Any, Final, Literal, get_args

import numpy as np
import numpy.typing as npt

Metric = Literal[
    "self_service_success",
    "escalation_rate",
    "csat",
    "frustration_slope",
    "time_to_escalation",
    "conversation_length",
]
METRICS: Final[tuple[Metric, ...]] = get_args(Metric)
# Rates of conversations (a difference of proportions); the others are means over conversations.
PROPORTIONS: Final[frozenset[Metric]] = frozenset({"self_service_success", "escalation_rate"})
# Which way is good, for the verdict's wording (None: neither way is better in itself).
HIGHER_IS_BETTER: Final[Mapping[Metric, bool | None]] = {
    "self_service_success": True,
    "escalation_rate": None,
    "csat": True,
    "frustration_slope": False,
    "time_to_escalation": None,
    "conversation_length": None,
}
Status = Literal["collecting", "invalid", "underpowered", "significant", "no_detectable_difference"]
COLLECTING: Final[Status] = "collecting"
INVALID: Final[Status] = "invalid"
UNDERPOWERED: Final[Status] = "underpowered"
SIGNIFICANT: Final[Status] = "significant"
NO_DIFFERENCE: Final[Status] = "no_detectable_difference"

# The variant logged for an opted-out customer: counted, never analysed.
EXCLUDED: Final = "excluded"
MAX_NAME: Final = 64
MAX_ARMS: Final = 8
ALPHA: Final = 0.05
POWER: Final = 0.80
# A sample-ratio mismatch is flagged at this p-value (strict: it is checked on every report).
SRM_ALPHA: Final = 0.001


class ExperimentError(ValueError):
    """``policy/experiments.yml`` is invalid; the message names the experiment and the key."""


@dataclass(frozen=True)
class Arm:
    name: str
    weight: float
    # False: neutral wording whatever the tone the engine chose (the decision path is the same).
    adaptive: bool


@dataclass(frozen=True)
class Experiment:
    name: str
    start: date
    end: date | None
    sample_size: int | None  # conversations per arm
    minimum_detectable_effect: float  # absolute, in the primary metric's units (0.05 = 5 points)
    primary_metric: Metric
    arms: tuple[Arm, ...]
    # False: defined (and reportable) but nobody is assigned; everyone gets the adaptive tone.
    enabled: bool = True

    @property
    def control(self) -> Arm:
        """The arm the others are compared with: the first listed."""
        return self.arms[0]

    def running(self, today: date) -> bool:
        """Assigning: enabled, from ``start`` to ``end`` inclusive (no end: until the file says otherwise)."""
        return self.enabled and self.start <= today and (self.end is None or today <= self.end)

    def arm(self, name: str) -> Arm | None:
        return next((a for a in self.arms if a.name == name), None)


# --- configuration ---------------------------------------------------------------------------


def parse(data: Any) -> tuple[Experiment, ...]:
    """The experiments of the parsed ``policy/experiments.yml``; raises ExperimentError naming the key."""
    if data is None:
        return ()
    if not isinstance(data, Mapping) or set(data) - {"experiments"}:
        raise ExperimentError("the file holds one key, 'experiments': a list")
    items = data.get("experiments") or []
    if not isinstance(items, list):
        raise ExperimentError("'experiments' must be a list")
    found = tuple(_experiment(item, i) for i, item in enumerate(items))
    names = [e.name for e in found]
    if len(set(names)) != len(names):
        raise ExperimentError("experiment names must be unique")
    return found


_KEYS: Final = frozenset(
    {"name", "enabled", "start", "end", "sample_size", "minimum_detectable_effect", "primary_metric", "arms"}
)


def _experiment(item: Any, index: int) -> Experiment:
    where = f"experiments[{index}]"
    if not isinstance(item, Mapping):
        raise ExperimentError(f"{where} must be a mapping")
    unknown = set(item) - _KEYS
    if unknown:
        raise ExperimentError(f"{where}: unknown keys {sorted(map(str, unknown))}")
    name = _name(item.get("name"), f"{where}.name")
    where = f"experiment {name!r}"
    start = _date(item.get("start"), f"{where}: start")
    end = None if item.get("end") is None else _date(item["end"], f"{where}: end")
    size = item.get("sample_size")
    if end is None and size is None:
        raise ExperimentError(f"{where}: a fixed horizon is required: 'end' (a date) or 'sample_size'")
    if end is not None and end < start:
        raise ExperimentError(f"{where}: end {end} is before start {start}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 10):
        raise ExperimentError(f"{where}: sample_size must be a whole number of at least 10 (per arm)")
    metric = item.get("primary_metric")
    if metric not in METRICS:
        raise ExperimentError(f"{where}: primary_metric must be one of {', '.join(METRICS)}")
    mde = item.get("minimum_detectable_effect")
    if isinstance(mde, bool) or not isinstance(mde, (int, float)) or not math.isfinite(mde) or mde <= 0:
        raise ExperimentError(f"{where}: minimum_detectable_effect must be a number above 0")
    if metric in PROPORTIONS and mde >= 1:
        raise ExperimentError(f"{where}: minimum_detectable_effect of a rate is below 1 (0.05 = 5 points)")
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ExperimentError(f"{where}: enabled must be true or false")
    arms = _arms(item.get("arms"), where)
    return Experiment(name, start, end, size, float(mde), metric, arms, enabled)


def _arms(value: Any, where: str) -> tuple[Arm, ...]:
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_ARMS:
        raise ExperimentError(f"{where}: arms must be a list of 2 to {MAX_ARMS} arms")
    arms = []
    for i, arm in enumerate(value):
        if not isinstance(arm, Mapping) or set(arm) - {"name", "weight", "adaptive"}:
            raise ExperimentError(f"{where}: arms[{i}] takes name, weight and adaptive")
        arm_name = _name(arm.get("name"), f"{where}: arms[{i}].name")
        if arm_name == EXCLUDED:
            raise ExperimentError(f"{where}: '{EXCLUDED}' is reserved for opted-out customers")
        weight = arm.get("weight")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1000:
            raise ExperimentError(f"{where}: arms[{i}].weight must be a number from 0 to 1000")
        adaptive = arm.get("adaptive")
        if not isinstance(adaptive, bool):
            raise ExperimentError(f"{where}: arms[{i}].adaptive must be true or false")
        arms.append(Arm(arm_name, float(weight), adaptive))
    if len({a.name for a in arms}) != len(arms):
        raise ExperimentError(f"{where}: arm names must be unique")
    if sum(a.weight for a in arms) <= 0:
        raise ExperimentError(f"{where}: at least one arm needs a weight above 0")
    return tuple(arms)


def _name(value: Any, where: str) -> str:
    ok = isinstance(value, str) and 0 < len(value) <= MAX_NAME
    if not ok or not all((c.isalnum() and c.isascii()) or c in "_-" for c in str(value)):
        raise ExperimentError(f"{where} must be 1-{MAX_NAME} letters, digits, '_' or '-'")
    return str(value)


def _date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ExperimentError(f"{where} must be a date (YYYY-MM-DD)") from None


def running(experiments: Sequence[Experiment], today: date) -> Experiment | None:
    """The tone experiment assigning today: the first running one listed (one runs at a time)."""
    return next((e for e in experiments if e.running(today)), None)


# --- assignment ------------------------------------------------------------------------------


def bucket(experiment: str, unit: str) -> float:
    """Where ``unit`` falls on [0, 1) for ``experiment``: uniform, and the same on every call."""
    digest = hashlib.sha256(f"{experiment}\x00{unit}".encode("utf-8", "replace")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign(experiment: Experiment, unit: str) -> Arm:
    """The arm of ``unit`` (a pseudonymous customer id, or a conversation id)."""
    point = bucket(experiment.name, unit) * sum(a.weight for a in experiment.arms)
    total = 0.0
    for arm in experiment.arms:
        total += arm.weight
        if point < total:
            return arm
    return next(a for a in reversed(experiment.arms) if a.weight > 0)


# --- statistics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """Treatment minus control, its (1 - alpha) interval and two-sided p-value."""

    control: float
    treatment: float
    estimate: float
    low: float
    high: float
    p_value: float

    @property
    def significant(self) -> bool:
        return self.low > 0 or self.high < 0

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 6) for k, v in vars(self).items()}


def _z(alpha: float) -> float:
    return NormalDist().inv_cdf(1 - alpha / 2)


def _effect(control: float, treatment: float, se: float, alpha: float) -> Effect | None:
    if not math.isfinite(se) or se <= 0:
        return None
    diff = treatment - control
    half = _z(alpha) * se
    p = 2 * (1 - NormalDist().cdf(abs(diff) / se))
    return Effect(control, treatment, diff, diff - half, diff + half, p)


def difference_of_proportions(
    successes_c: int, n_c: int, successes_t: int, n_t: int, alpha: float = ALPHA
) -> Effect | None:
    """Wald interval of p_t - p_c (unpooled); None when an arm is empty or both rates are 0 or 1."""
    if n_c <= 0 or n_t <= 0:
        return None
    p_c, p_t = successes_c / n_c, successes_t / n_t
    return _effect(p_c, p_t, math.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t), alpha)


def difference_of_means(
    control: npt.NDArray[np.float64], treatment: npt.NDArray[np.float64], alpha: float = ALPHA
) -> Effect | None:
    """Welch's normal interval of mean_t - mean_c; None with fewer than 2 values in an arm."""
    if control.size < 2 or treatment.size < 2:
        return None
    se = math.sqrt(control.var(ddof=1) / control.size + treatment.var(ddof=1) / treatment.size)
    return _effect(float(control.mean()), float(treatment.mean()), se, alpha)


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-square with ``df`` degrees of freedom (closed forms for whole df)."""
    if x <= 0:
        return 1.0
    half = x / 2
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, df // 2):
            term *= half / i
            total += term
        return min(1.0, math.exp(-half) * total)
    root = math.sqrt(x)
    total, term = math.erfc(root / math.sqrt(2)), math.sqrt(2 * x / math.pi) * math.exp(-half)
    for j in range(1, (df - 1) // 2 + 1):
        total += term
        term *= x / (2 * j + 1)
    return min(1.0, total)


@dataclass(frozen=True)
class SampleRatio:
    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float
    p_value: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < SRM_ALPHA

    def to_dict(self) -> dict[str, Any]:
        return {
            "observed": self.observed,
            "expected": {k: round(v, 1) for k, v in self.expected.items()},
            "chi2": round(self.chi2, 4),
            "p_value": round(self.p_value, 6),
            "mismatch": self.mismatch,
        }


def sample_ratio(experiment: Experiment, counts: Mapping[str, int]) -> SampleRatio:
    """Chi-square goodness of fit of the arms' sizes to their weights (arms of weight 0 left out)."""
    arms = [a for a in experiment.arms if a.weight > 0]
    total_weight = sum(a.weight for a in arms)
    n = sum(int(counts.get(a.name, 0)) for a in arms)
    observed = {a.name: int(counts.get(a.name, 0)) for a in arms}
    expected = {a.name: n * a.weight / total_weight for a in arms}
    if n == 0 or len(arms) < 2:
        return SampleRatio(observed, expected, 0.0, 1.0)
    chi2 = sum((observed[k] - e) ** 2 / e for k, e in expected.items())
    return SampleRatio(observed, expected, chi2, chi2_sf(chi2, len(arms) - 1))


def required_per_arm(
    metric: Metric, baseline: float, spread: float, mde: float, alpha: float = ALPHA, power: float = POWER
) -> int:
    """Conversations per arm to detect ``mde`` with ``power`` at two-sided ``alpha``.

    A rate uses its baseline (control) rate; a mean uses the control's standard deviation ``spread``.
    """
    z = _z(alpha) + NormalDist().inv_cdf(power)
    if metric in PROPORTIONS:
        treated = min(max(baseline + mde, 0.0), 1.0)
        variance = baseline * (1 - baseline) + treated * (1 - treated)
    else:
        variance = 2 * spread * spread
    if variance <= 0:
        # A degenerate baseline (0% or 100%, or no spread yet) still needs a sample: assume the worst.
        variance = 0.5 if metric in PROPORTIONS else 1.0
    return max(2, math.ceil(z * z * variance / (mde * mde)))
