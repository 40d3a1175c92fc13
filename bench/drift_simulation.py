"""Drift charts on synthetic traffic (bot/empathy/drift.py): false alarms and detection delay.

``python -m bench.drift_simulation [--days 2000] [--trials 200] [--n 1000]`` prints, for a stable
stream, the share of days on which each chart (and any chart) raises an alarm, and for a shift of a
given size that starts on a known day, how many days each chart takes to flag it.  The numbers in
docs/drift.md come from this script; tests/bot/empathy/test_drift.py runs it small.

The stream: ``n`` consented turns a day; intents and top emotion labels drawn from fixed
distributions (multinomial), frustration per turn from Beta(2, 5) (mean 0.286, sd 0.160).
"""

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np

from bot.empathy import drift

INTENTS: Mapping[str, float] = {
    "order_status": 0.30,
    "refund_status": 0.12,
    "return_item": 0.08,
    "cancel_order": 0.06,
    "billing_question": 0.06,
    "ask_human": 0.05,
    "affirm": 0.10,
    "deny": 0.05,
    "thank_you": 0.08,
    "greet": 0.04,
    "nlu_fallback": 0.06,
}
EMOTIONS: Mapping[str, float] = {
    "neutral": 0.55,
    "frustration": 0.12,
    "anger": 0.05,
    "confusion": 0.08,
    "sadness": 0.04,
    "joy": 0.10,
    "fear": 0.02,
    "surprise": 0.02,
    "disgust": 0.02,
}
BETA = (2.0, 5.0)
START = date(2026, 1, 1)


@dataclass(frozen=True)
class Traffic:
    """One day's generating distribution."""

    intents: Mapping[str, float]
    emotions: Mapping[str, float]
    frustration_shift: float = 0.0


STABLE = Traffic(INTENTS, EMOTIONS)


def shifted_share(shares: Mapping[str, float], key: str, to: float) -> dict[str, float]:
    """``shares`` with ``key`` at ``to`` and the others scaled to keep the sum 1."""
    rest = 1 - shares[key]
    return {k: (to if k == key else v * (1 - to) / rest) for k, v in shares.items()}


def day(rng: np.random.Generator, when: date, n: int, traffic: Traffic) -> drift.DaySummary:
    intents = dict(zip(traffic.intents, rng.multinomial(n, list(traffic.intents.values())), strict=True))
    emotions = dict(zip(traffic.emotions, rng.multinomial(n, list(traffic.emotions.values())), strict=True))
    scores = np.clip(rng.beta(*BETA, size=n) + traffic.frustration_shift, 0.0, 1.0)
    return drift.DaySummary(
        day=when,
        n=n,
        fallbacks=int(intents.get(drift.NLU_FALLBACK, 0)),
        intents={k: int(v) for k, v in intents.items() if v},
        emotions={k: int(v) for k, v in emotions.items() if v},
        frustration_n=n,
        frustration_sum=float(scores.sum()),
        frustration_sumsq=float((scores**2).sum()),
    )


def check(days: list[drift.DaySummary], index: int, settings: drift.DriftSettings) -> list[drift.Point]:
    """The points of ``days[index]`` with its reference and guard windows taken from ``days``."""
    guard_start = index - settings.guard_days
    reference = days[max(0, guard_start - settings.reference_days) : max(0, guard_start)]
    return drift.check_day(days[index], reference, days[max(0, guard_start) : index], settings)


def warm_up(settings: drift.DriftSettings) -> int:
    return settings.reference_days + settings.guard_days


@dataclass(frozen=True)
class FalseAlarms:
    days: int
    any_chart: float
    by_chart: dict[str, float]


def false_alarms(
    days: int, n: int, seed: int = 1, settings: drift.DriftSettings | None = None
) -> FalseAlarms:
    """Alarm rates on a stable stream: the share of checked days with an out-of-control point."""
    settings = settings or drift.DriftSettings()
    rng = np.random.default_rng(seed)
    start = warm_up(settings)
    stream = [day(rng, START + timedelta(i), n, STABLE) for i in range(start + days)]
    any_chart = 0
    by_chart = dict.fromkeys(drift.ALARM_CHARTS, 0)
    for index in range(start, start + days):
        out = {p.chart for p in check(stream, index, settings) if p.out_of_control}
        any_chart += bool(out)
        for chart in out:
            by_chart[chart] += 1
    return FalseAlarms(days, any_chart / days, {k: v / days for k, v in by_chart.items()})


@dataclass(frozen=True)
class Detection:
    name: str
    trials: int
    # Days from the shift's first day to the first alarm of the chart (1: flagged on that day).
    delays: list[int]
    horizon: int

    def within(self, k: int) -> float:
        return sum(1 for d in self.delays if d <= k) / self.trials

    @property
    def median(self) -> float | None:
        return float(np.median(self.delays)) if self.delays else None


# The shifts measured: name, the chart and key that should flag it, and the shifted traffic.
SHIFTS: dict[str, tuple[drift.Chart, str, Traffic]] = {
    "fallback rate 6% -> 9%": (
        drift.FALLBACK_RATE,
        "",
        replace(STABLE, intents=shifted_share(INTENTS, "nlu_fallback", 0.09)),
    ),
    "order_status share 30% -> 35%": (
        drift.INTENT_SHARE,
        "order_status",
        replace(STABLE, intents=shifted_share(INTENTS, "order_status", 0.35)),
    ),
    "anger share 5% -> 8%": (
        drift.EMOTION_SHARE,
        "anger",
        replace(STABLE, emotions=shifted_share(EMOTIONS, "anger", 0.08)),
    ),
    "mean frustration +0.01 (2 sd of a daily mean)": (
        drift.FRUSTRATION_EWMA,
        "",
        replace(STABLE, frustration_shift=0.01),
    ),
}


def detection(
    name: str,
    trials: int,
    n: int,
    horizon: int = 7,
    seed: int = 2,
    settings: drift.DriftSettings | None = None,
) -> Detection:
    """Over ``trials`` runs: a stable warm-up, then the shift ``name`` from a known day; the days
    until the shift's chart flags it (runs not flagged within ``horizon`` days count as missed).
    """
    settings = settings or drift.DriftSettings()
    chart, key, shifted = SHIFTS[name]
    rng = np.random.default_rng(seed)
    start = warm_up(settings)
    delays: list[int] = []
    for _ in range(trials):
        stream = [day(rng, START + timedelta(i), n, STABLE) for i in range(start)]
        for offset in range(horizon):
            stream.append(day(rng, START + timedelta(start + offset), n, shifted))
            points = check(stream, len(stream) - 1, settings)
            if any(p.out_of_control and (p.chart, p.key) == (chart, key) for p in points):
                delays.append(offset + 1)
                break
    return Detection(name, trials, delays, horizon)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.drift_simulation", description=__doc__)
    parser.add_argument("--days", type=int, default=2000, help="stable days checked for false alarms")
    parser.add_argument("--trials", type=int, default=200, help="runs per shift for the detection delay")
    parser.add_argument("--n", type=int, default=1000, help="consented turns a day")
    args = parser.parse_args(argv)
    alarms = false_alarms(args.days, args.n)
    print(f"stable stream, {alarms.days} days of {args.n} turns: any chart {alarms.any_chart:.2%} of days")
    for chart, rate in alarms.by_chart.items():
        print(f"  {chart}: {rate:.2%}")
    for name in SHIFTS:
        found = detection(name, args.trials, args.n)
        median = "-" if found.median is None else f"{found.median:.0f}"
        print(
            f"{name}: flagged on day 1 in {found.within(1):.0%}, within 3 days {found.within(3):.0%}, "
            f"within 7 days {found.within(7):.0%}; median delay {median} days ({found.trials} runs)"
        )


if __name__ == "__main__":
    main()
