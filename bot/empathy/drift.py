"""Drift control (issue 22, item 2): is today's traffic still like the reference window's?

Pure statistics over per-day summaries of consented customer turns (no I/O; the handoff service's
handoff/analytics/drift.py reads the summaries and stores the points).  Every day is checked
against a **reference window**: the ``reference_days`` UTC days that end ``guard_days`` days before
the checked day.  The guard keeps a fresh shift out of its own reference: a lasting shift is
flagged for about ``guard_days`` days and then, as it enters the reference, becomes the new normal.
Days with fewer than ``min_daily_n`` turns are neither checked nor used as reference; a day needs at
least ``min_reference_days`` usable reference days.

The charts:

- **Proportions** (the fallback rate, each intent's share, each emotion label's share): a
  p-chart, centre p̄ = the reference window's pooled share, limits
  p̄ ± L·sigma_z·sqrt(p̄(1-p̄)(1/n + 1/N)), n the day's turns, N the reference window's (the 1/N
  for p̄'s own error).  sigma_z is Laney's correction (the p'-chart): the spread of the reference
  days' z-scores, estimated from their mean moving range (MR̄ / 1.128), never below 1.  Real
  traffic varies more from day to day than a binomial draw does; without it, a plain p-chart on
  thousands of turns a day would flag every weekday.  With a binomial stream sigma_z ≈ 1 and this
  is the textbook p-chart.
- **Families**: the intents' shares of one day are one family of charts, the emotion labels'
  shares another.  Each chart of a family of m uses the Bonferroni limit z(1 - alpha/2m), alpha
  the two-sided rate of one L-sigma chart (0.27 % for L = 3), so a family raises no more false
  alarms a day than a single chart does.  A key is charted when its reference share or today's
  share is at least ``min_share``; a key absent from the reference gets p̄ = 0.5 / N, so a new
  intent with a visible share is flagged.  ``nlu_fallback`` is charted once, as the fallback rate.
- **Mean frustration**: an EWMA chart of the daily mean (lambda, L), run over the guard days and
  the checked day, started at the reference mean mu0: z_t = lambda·x_t + (1-lambda)·z_(t-1),
  limits mu0 ± L·sigma·sqrt(lambda/(2-lambda)·(1-(1-lambda)^2t) + 1/m), the 1/m for mu0's own
  error over m reference days (without it a 28-day reference doubles the false alarms).  sigma is
  the standard deviation of the reference days' means (it holds both the per-turn noise and the
  day-to-day variation), never below the pooled per-turn standard deviation over sqrt(mean daily
  n).  The EWMA finds a small lasting shift that a Shewhart chart of the daily mean would need many
  days for.  No chi-square or PSI test of the whole distributions: on thousands of turns a day a
  chi-square flags every day, and the per-key charts name what moved.

Each day's points are a function of the data alone (no state carried between days), so checking a
day again gives the same answer.  Measured false-alarm rates and detection delays: docs/drift.md
(bench/drift_simulation.py).
"""

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from statistics import NormalDist
from typing import Final, Literal

Chart = Literal["fallback_rate", "intent_share", "emotion_share", "frustration_ewma", "volume"]
FALLBACK_RATE: Final[Chart] = "fallback_rate"
INTENT_SHARE: Final[Chart] = "intent_share"
EMOTION_SHARE: Final[Chart] = "emotion_share"
FRUSTRATION_EWMA: Final[Chart] = "frustration_ewma"
# Not a chart: the day's row when it has too few turns or too little reference to be checked.
VOLUME: Final[Chart] = "volume"
# The charts that can be out of control (and label the Prometheus metrics).
ALARM_CHARTS: Final[tuple[Chart, ...]] = (FALLBACK_RATE, INTENT_SHARE, EMOTION_SHARE, FRUSTRATION_EWMA)
CHARTS: Final[tuple[Chart, ...]] = (*ALARM_CHARTS, VOLUME)

Status = Literal["in_control", "out_of_control", "too_few", "no_reference"]
IN_CONTROL: Final[Status] = "in_control"
OUT_OF_CONTROL: Final[Status] = "out_of_control"
TOO_FEW: Final[Status] = "too_few"
NO_REFERENCE: Final[Status] = "no_reference"

# config.yml's FallbackClassifier names a message it could not classify so (bot/constants.py).
NLU_FALLBACK: Final = "nlu_fallback"
# d2 for moving ranges of two points: E|X1 - X2| = 1.128 sigma for normal X.
D2: Final = 1.128


@dataclass(frozen=True)
class DriftSettings:
    """The knobs of policy/drift.yml (checked there; the defaults are the shipped values)."""

    reference_days: int = 28
    guard_days: int = 7
    min_reference_days: int = 7
    ewma_lambda: float = 0.2
    limit_sigma: float = 3.0
    min_daily_n: int = 200
    min_share: float = 0.01


@dataclass(frozen=True)
class DaySummary:
    """One UTC day's consented customer turns (emotion processing on), as counts and sums."""

    day: date
    n: int
    fallbacks: int = 0
    # Turns per intent (nlu_fallback included; it is charted as the fallback rate only).
    intents: Mapping[str, int] = field(default_factory=dict)
    # Turns per top emotion label; their sum is the number of labelled turns.
    emotions: Mapping[str, int] = field(default_factory=dict)
    frustration_n: int = 0
    frustration_sum: float = 0.0
    frustration_sumsq: float = 0.0

    @property
    def labelled(self) -> int:
        return sum(self.emotions.values())

    @property
    def frustration_mean(self) -> float | None:
        return self.frustration_sum / self.frustration_n if self.frustration_n else None


@dataclass(frozen=True)
class Point:
    """One chart's value on the checked day, its centre line and control limits."""

    chart: Chart
    key: str
    value: float
    center: float
    lower: float
    upper: float
    n: int
    status: Status

    @property
    def out_of_control(self) -> bool:
        return self.status == OUT_OF_CONTROL


def family_limit(limit_sigma: float, members: int) -> float:
    """The Bonferroni limit (in sigmas) for each of ``members`` charts whose family should raise
    false alarms at the rate of one ``limit_sigma`` chart.
    """
    alpha = 2 * (1 - NormalDist().cdf(limit_sigma))
    return NormalDist().inv_cdf(1 - alpha / (2 * max(1, members)))


def laney_sigma_z(counts: Sequence[tuple[int, int]], p_bar: float) -> float:
    """The spread of the reference days' z-scores, MR̄ / 1.128, never below 1 (Laney's p'-chart)."""
    if not 0 < p_bar < 1:
        return 1.0
    z = [(x / n - p_bar) / math.sqrt(p_bar * (1 - p_bar) / n) for x, n in counts if n > 0]
    if len(z) < 2:
        return 1.0
    moving_range = sum(abs(b - a) for a, b in itertools.pairwise(z)) / (len(z) - 1)
    return max(1.0, moving_range / D2)


def p_chart(
    chart: Chart,
    key: str,
    reference: Sequence[tuple[int, int]],
    today: tuple[int, int],
    limit_sigma: float,
) -> Point:
    """The day's share ``x / n`` against the reference days' ``(x, n)``, oldest first."""
    total = sum(n for _, n in reference)
    hits = sum(x for x, _ in reference)
    p_bar = max(hits, 0.5) / total if total else 0.0
    x, n = today
    # p̄ is estimated from ``total`` turns: its variance adds to the day's (1/n + 1/total).
    binomial = math.sqrt(p_bar * (1 - p_bar) * (1 / n + 1 / total)) if n and total else 0.0
    sigma = binomial * laney_sigma_z(reference, p_bar)
    lower, upper = max(0.0, p_bar - limit_sigma * sigma), min(1.0, p_bar + limit_sigma * sigma)
    value = x / n if n else 0.0
    status = IN_CONTROL if lower <= value <= upper else OUT_OF_CONTROL
    return Point(chart, key, value, p_bar, lower, upper, n, status)


def ewma_chart(
    chart: Chart,
    key: str,
    reference: Sequence[DaySummary],
    stretch: Sequence[DaySummary],
    settings: DriftSettings,
) -> Point | None:
    """The EWMA of the daily mean frustration over ``stretch`` (the guard days, then the checked
    day), against the reference days' means; None when there are no frustration scores.
    """
    means = [d.frustration_mean for d in reference if d.frustration_mean is not None]
    run = [d for d in stretch if d.frustration_mean is not None]
    if len(means) < 2 or not run or run[-1] is not stretch[-1]:
        return None
    mu = sum(means) / len(means)
    between = math.sqrt(sum((m - mu) ** 2 for m in means) / (len(means) - 1))
    sigma = max(between, _per_turn_sigma(reference))
    lam = settings.ewma_lambda
    z = mu
    for day in run:
        z = lam * (day.frustration_mean or 0.0) + (1 - lam) * z
    # The reference mean is itself an estimate from len(means) days: its variance adds to the EWMA's.
    spread = lam / (2 - lam) * (1 - (1 - lam) ** (2 * len(run))) + 1 / len(means)
    width = settings.limit_sigma * sigma * math.sqrt(spread)
    status = IN_CONTROL if mu - width <= z <= mu + width else OUT_OF_CONTROL
    return Point(chart, key, z, mu, mu - width, mu + width, stretch[-1].frustration_n, status)


def _per_turn_sigma(reference: Sequence[DaySummary]) -> float:
    """The pooled per-turn standard deviation over sqrt(mean daily n): the floor of the EWMA's sigma."""
    n = sum(d.frustration_n for d in reference)
    if n < 2:
        return 0.0
    mean = sum(d.frustration_sum for d in reference) / n
    variance = max(0.0, sum(d.frustration_sumsq for d in reference) / n - mean**2)
    days = sum(1 for d in reference if d.frustration_n)
    return math.sqrt(variance) / math.sqrt(n / max(1, days))


def usable(days: Sequence[DaySummary], settings: DriftSettings) -> list[DaySummary]:
    return [d for d in days if d.n >= settings.min_daily_n]


def check_day(
    today: DaySummary,
    reference: Sequence[DaySummary],
    guard: Sequence[DaySummary],
    settings: DriftSettings,
) -> list[Point]:
    """Every chart's point for ``today``; ``reference`` and ``guard`` are the days of those windows,
    oldest first (days with too few turns are dropped here).  A day that cannot be checked gives
    one ``volume`` point saying why.
    """
    ref = usable(reference, settings)
    if today.n < settings.min_daily_n:
        floor = float(settings.min_daily_n)
        return [Point(VOLUME, "", today.n, floor, floor, floor, today.n, TOO_FEW)]
    if len(ref) < settings.min_reference_days:
        floor = float(settings.min_reference_days)
        return [Point(VOLUME, "", len(ref), floor, floor, floor, today.n, NO_REFERENCE)]
    points = [
        p_chart(
            FALLBACK_RATE,
            "",
            [(d.fallbacks, d.n) for d in ref],
            (today.fallbacks, today.n),
            settings.limit_sigma,
        )
    ]
    intents = {name: {d.day: d.intents.get(name, 0) for d in ref} for name in _keys(ref, today, "intents")}
    intents.pop(NLU_FALLBACK, None)
    points += _family(INTENT_SHARE, intents, ref, today, settings, lambda d: d.n, today.intents)
    emotions = {name: {d.day: d.emotions.get(name, 0) for d in ref} for name in _keys(ref, today, "emotions")}
    points += _family(EMOTION_SHARE, emotions, ref, today, settings, lambda d: d.labelled, today.emotions)
    stretch = [*usable(guard, settings), today]
    ewma = ewma_chart(FRUSTRATION_EWMA, "", ref, stretch, settings)
    return [*points, *([ewma] if ewma is not None else [])]


def _keys(ref: Sequence[DaySummary], today: DaySummary, attribute: str) -> list[str]:
    names: set[str] = set(getattr(today, attribute))
    for day in ref:
        names.update(getattr(day, attribute))
    return sorted(names)


def _family(
    chart: Chart,
    counts: Mapping[str, Mapping[date, int]],
    ref: Sequence[DaySummary],
    today: DaySummary,
    settings: DriftSettings,
    base: Callable[[DaySummary], int],
    today_counts: Mapping[str, int],
) -> list[Point]:
    """The p-charts of one family (the keys with a share of at least ``min_share``), Bonferroni-limited."""
    ref_total = sum(base(d) for d in ref)
    n_today = base(today)
    if not ref_total or not n_today:
        return []
    charted = [
        key
        for key, by_day in counts.items()
        if sum(by_day.values()) / ref_total >= settings.min_share
        or today_counts.get(key, 0) / n_today >= settings.min_share
    ]
    limit = family_limit(settings.limit_sigma, len(charted))
    return [
        p_chart(
            chart,
            key,
            [(counts[key][d.day], base(d)) for d in ref],
            (today_counts.get(key, 0), n_today),
            limit,
        )
        for key in charted
    ]
