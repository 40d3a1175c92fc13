"""The dashboard's metrics over a period, read from the daily roll-ups (handoff/analytics/rollups.py).

Each metric has a written definition (shown on the page and in docs/analytics.md), a headline value
per channel and overall, a value per day (the chart) and, for the metrics split by a label (reasons,
statuses, score bands), the counts per label.  ``csv_rows`` gives the roll-up rows a metric is made
of, for its CSV export.
"""

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Final, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from handoff.analytics import rollups as r
from handoff.analytics.period import Period

Totals = dict[tuple[str, str], tuple[int, float]]  # (measure, label) -> (count, total)


@dataclass(frozen=True)
class Definition:
    key: str
    title: str
    text: str
    measures: tuple[str, ...]  # the roll-up measures it is computed from (its CSV)
    unit: str  # how the headline value reads: "", "%", "s", "/5"
    labelled: bool = False  # split by a label (reason, status, band, score)


DEFINITIONS: Final = (
    Definition(
        "conversations",
        "Conversations",
        "Conversations that started in the period (by their first event, UTC day), on the channel "
        "their id names (web, rest, sms, whatsapp).",
        (r.CONVERSATIONS,),
        "",
    ),
    Definition(
        "containment",
        "Containment",
        "Share of those conversations resolved without a person: no handoff was ever requested "
        "(the conversation has no handoff status).",
        (r.CONVERSATIONS, r.CONTAINED),
        "%",
    ),
    Definition(
        "self_service",
        "Self-service success",
        "Share of self-service answers (order, refund, return, account look-ups) that met the "
        "customer's need: the outcome is not one of the failure codes of actions/outcomes.py.",
        (r.SELF_SERVICE,),
        "%",
        labelled=True,
    ),
    Definition(
        "escalations",
        "Escalations by reason",
        "Escalation decisions (offer a person, offer a call-back, hand off) in the period, by the "
        "reason the handoff contract gives: customer request, frustration, failed self-service, distress.",
        (r.ESCALATIONS,),
        "",
        labelled=True,
    ),
    Definition(
        "time_to_escalation",
        "Time to escalation",
        "For conversations that started in the period and escalated: the mean time from the "
        "conversation's first event to its first escalation decision (and the mean turn it came at).",
        (r.TIME_TO_ESCALATION, r.TURNS_TO_ESCALATION),
        "s",
    ),
    Definition(
        "frustration_at_handoff",
        "Frustration at handoff",
        "For conversations handed to a person: the frustration score (0-1) of the customer turn "
        "where the bot first escalated, mean and by band.  Only conversations where every turn had "
        "emotion processing on: customers who opted out contribute nothing.",
        (r.FRUSTRATION_AT_HANDOFF,),
        "",
        labelled=True,
    ),
    Definition(
        "tone_changes",
        "Tone changes",
        "Share of customer turns (with an earlier turn in the same conversation) on which the bot's "
        "tone differs from the turn before, by change.",
        (r.TONE_TURNS, r.TONE_CHANGES),
        "%",
        labelled=True,
    ),
    Definition(
        "callbacks",
        "Call-back outcomes",
        "How call-back requests went (the call-back status each one reached), in the period.",
        (r.CALLBACKS,),
        "",
        labelled=True,
    ),
    Definition(
        "csat",
        "CSAT",
        "Answers to the satisfaction question (1-5) in the period: the mean score, and the share of "
        "satisfied answers (4 or 5) in the chart.",
        (r.CSAT,),
        "/5",
        labelled=True,
    ),
)
BY_KEY: Final = {d.key: d for d in DEFINITIONS}
ALL_CHANNELS: Final = "all"


@dataclass
class Metric:
    definition: Definition
    value: float | None  # the headline over every selected channel; None: no data
    detail: str  # a second figure ("12 of 40"), in words
    by_channel: dict[str, float | None] = field(default_factory=dict)
    by_day: list[tuple[date, float | None]] = field(default_factory=list)
    by_label: list[tuple[str, int]] = field(default_factory=list)


def _ratio(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole else None


def _sum(totals: Totals, measure: str, label: str | None = None) -> tuple[int, float]:
    count, total = 0, 0.0
    for (m, lab), (n, t) in totals.items():
        if m == measure and (label is None or lab == label):
            count, total = count + n, total + t
    return count, total


def _headline(key: str, totals: Totals) -> tuple[float | None, str]:
    """A metric's value and its detail in words, from the counts it is made of."""
    if key == "conversations":
        n = _sum(totals, r.CONVERSATIONS)[0]
        return float(n), f"{n} conversations"
    if key == "containment":
        whole, part = _sum(totals, r.CONVERSATIONS)[0], _sum(totals, r.CONTAINED)[0]
        return _ratio(part, whole), f"{part} of {whole} conversations"
    if key == "self_service":
        whole, part = _sum(totals, r.SELF_SERVICE)[0], _sum(totals, r.SELF_SERVICE, r.SUCCESS)[0]
        return _ratio(part, whole), f"{part} of {whole} answers"
    if key == "tone_changes":
        whole, part = _sum(totals, r.TONE_TURNS)[0], _sum(totals, r.TONE_CHANGES)[0]
        return _ratio(part, whole), f"{part} changes in {whole} turns"
    if key == "time_to_escalation":
        n, seconds = _sum(totals, r.TIME_TO_ESCALATION)
        turns_n, turns = _sum(totals, r.TURNS_TO_ESCALATION)
        mean_turn = f", at turn {turns / turns_n:.1f} on average" if turns_n else ""
        return (seconds / n if n else None), f"{n} escalated conversations{mean_turn}"
    if key in ("frustration_at_handoff", "csat"):
        measure = r.FRUSTRATION_AT_HANDOFF if key == "frustration_at_handoff" else r.CSAT
        n, total = _sum(totals, measure)
        what = "handoffs with consent" if key == "frustration_at_handoff" else "answers"
        return (total / n if n else None), f"{n} {what}"
    measure = BY_KEY[key].measures[0]
    n = _sum(totals, measure)[0]
    return float(n), f"{n} in all"


def _daily_value(key: str, totals: Totals) -> float | None:
    """The chart's value for one day: CSAT charts the share satisfied, the rest their headline."""
    if key == "csat":
        whole = _sum(totals, r.CSAT)[0]
        return _ratio(_sum(totals, r.CSAT, "4")[0] + _sum(totals, r.CSAT, "5")[0], whole)
    return _headline(key, totals)[0]


def _labels(definition: Definition, totals: Totals) -> list[tuple[str, int]]:
    measure = definition.measures[-1]
    counts = [(label, n) for (m, label), (n, _) in totals.items() if m == measure and label]
    return sorted(counts, key=lambda item: (-item[1], item[0]))


class RollupRow(NamedTuple):
    """A roll-up row, or a sum of them (``channel`` ALL_CHANNELS: every channel; ``day`` None: every day)."""

    day: date | None
    channel: str
    measure: str
    label: str
    how_many: int  # ``count`` would shadow tuple.count
    total: float


def read_rows(engine: Engine, period: Period, measures: Sequence[str] | None = None) -> list[RollupRow]:
    """The roll-up rows of the period (its channel, or all), optionally of some measures only."""
    d = r.daily
    query = select(d.c.day, d.c.channel, d.c.metric, d.c.label, d.c.count, d.c.total).where(
        d.c.day >= period.first, d.c.day <= period.last
    )
    if period.channel:
        query = query.where(d.c.channel == period.channel)
    if measures is not None:
        query = query.where(d.c.metric.in_(list(measures)))
    with engine.connect() as connection:
        rows = connection.execute(query.order_by(d.c.day, d.c.channel, d.c.metric, d.c.label)).all()
    return [RollupRow(row[0], row[1], row[2], row[3], int(row[4]), float(row[5])) for row in rows]


def read_sums(engine: Engine, period: Period) -> tuple[list[RollupRow], list[RollupRow]]:
    """The period's roll-ups summed in the database: per day over the channels, and per channel over
    the days (a page reads a few thousand sums rather than every day of every channel).
    """
    d = r.daily
    where = [d.c.day >= period.first, d.c.day <= period.last]
    if period.channel:
        where.append(d.c.channel == period.channel)
    count, total = func.sum(d.c.count), func.sum(d.c.total)
    with engine.connect() as connection:
        by_day = connection.execute(
            select(d.c.day, d.c.metric, d.c.label, count, total)
            .where(*where)
            .group_by(d.c.day, d.c.metric, d.c.label)
        ).all()
        by_channel = connection.execute(
            select(d.c.channel, d.c.metric, d.c.label, count, total)
            .where(*where)
            .group_by(d.c.channel, d.c.metric, d.c.label)
        ).all()
    return (
        [RollupRow(day, ALL_CHANNELS, m, label, int(n), float(t)) for day, m, label, n, t in by_day],
        [RollupRow(None, channel, m, label, int(n), float(t)) for channel, m, label, n, t in by_channel],
    )


def _group(rows: Sequence[RollupRow], key: Callable[[RollupRow], object]) -> dict[object, Totals]:
    grouped: defaultdict[object, Totals] = defaultdict(dict)
    for row in rows:
        totals = grouped[key(row)]
        count, total = totals.get((row.measure, row.label), (0, 0.0))
        totals[(row.measure, row.label)] = (count + row.how_many, total + row.total)
    return grouped


def metrics(sums: tuple[Sequence[RollupRow], Sequence[RollupRow]], period: Period) -> list[Metric]:
    """Every metric of the page, from ``read_sums``."""
    daily_sums, channel_sums = sums
    overall = _group(channel_sums, lambda row: ALL_CHANNELS).get(ALL_CHANNELS, {})
    by_channel = _group(channel_sums, lambda row: row.channel)
    by_day = _group(daily_sums, lambda row: row.day)
    found = []
    for definition in DEFINITIONS:
        value, detail = _headline(definition.key, overall)
        metric = Metric(definition, value, detail)
        metric.by_channel = {
            str(channel or "unknown"): _headline(definition.key, totals)[0]
            for channel, totals in sorted(by_channel.items(), key=lambda item: str(item[0]))
        }
        metric.by_day = [(day, _daily_value(definition.key, by_day.get(day, {}))) for day in period.days()]
        if definition.labelled:
            metric.by_label = _labels(definition, overall)
        found.append(metric)
    return found


def csv_rows(rows: Sequence[RollupRow]) -> Iterator[list[str]]:
    """A metric's CSV: a header, then one line per day, channel, measure and label."""
    yield ["day", "channel", "measure", "label", "count", "total"]
    for row in rows:
        day = row.day.isoformat() if row.day is not None else ""
        yield [day, row.channel, row.measure, row.label, str(row.how_many), f"{row.total:g}"]


def data_span(engine: Engine) -> tuple[date, date] | None:
    """The first and last day the roll-ups hold (for the page's hint), None when empty."""
    with engine.connect() as connection:
        first, last = connection.execute(select(func.min(r.daily.c.day), func.max(r.daily.c.day))).one()
    return (first, last) if first is not None else None
