"""Drift control's daily job (issue 22, item 2): the charts of bot/empathy/drift.py over analytics_turns.

For each completed UTC day not yet checked, the day's consented turns (``emotion_processing`` on:
an opted-out customer's turns count in no chart, not even intents or the fallback rate) are summed
per intent and emotion label, with the frustration scores' count, sum and sum of squares; the day is
checked against its reference and guard days, and every point is stored in ``drift_checks``
(migration 0023).  A day is checked once: its rows are its mark (``check_pending`` skips it, the
unique key stops a second writer); ``attune drift check --day D`` checks one day again.

A point out of control is the stored alert; it is also logged as a WARNING (the chart, the key, the
day and the numbers, never a conversation) and counted in ``attune_drift_alerts_total``.  The
console's banner (handoff/dashboard/drift_view.py) reads the ``DriftBoard`` that the service's
worker refreshes after each pass: the charts out of control on the latest checked day, each with the
day its run of out-of-control days began.

The worker (``setup``, a ``cleanup_ctx`` like the analytics consumer) loads the board at start-up,
then every ``check_every_minutes`` of policy/drift.yml checks the pending days in a thread.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Final

from aiohttp import web
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.empathy import drift
from handoff.analytics.events import EMOTION_ON
from handoff.core.app_keys import ENGINE, METRICS
from handoff.core.db import as_utc
from handoff.core.models import AnalyticsTurn, DriftCheck
from handoff.core.settings import ConfigError
from handoff.shared.policy_yaml import exact_keys, read_document

logger = logging.getLogger(__name__)

DEFAULT_FILE: Final = Path(__file__).resolve().parents[2] / "policy" / "drift.yml"
# A day is checked once it has been over this long (the broker's stragglers are seconds late).
SETTLE: Final = timedelta(minutes=15)
# The service's first pass waits this long after start-up (the board is loaded at once).
FIRST_PASS_SECONDS: Final = 5.0
RETRY_SECONDS: Final = 60.0
# How far back the board looks for the start of an out-of-control run.
RUN_LOOKBACK_DAYS: Final = 400


@dataclass(frozen=True)
class DriftPolicy:
    """policy/drift.yml: the statistics' knobs and the worker's schedule."""

    settings: drift.DriftSettings = field(default_factory=drift.DriftSettings)
    enabled: bool = True
    check_every_minutes: int = 30
    backfill_days: int = 60
    source: str = "built-in"


# key: (type, lowest, highest) of each number in policy/drift.yml.
NUMBERS: Final[Mapping[str, tuple[type, float, float]]] = {
    "reference_days": (int, 1, 365),
    "guard_days": (int, 0, 60),
    "min_reference_days": (int, 2, 365),
    "min_daily_n": (int, 1, 10_000_000),
    "limit_sigma": (float, 1.0, 6.0),
    "ewma_lambda": (float, 0.01, 1.0),
    "min_share": (float, 0.0, 0.5),
    "check_every_minutes": (int, 1, 1440),
    "backfill_days": (int, 1, 3660),
}
KEYS: Final = ("enabled", *NUMBERS)


def parse_policy(document: object, source: str) -> DriftPolicy:
    """The policy in ``document`` (the parsed YAML), or ConfigError naming the key that is wrong."""
    document = exact_keys(document, KEYS, source, ConfigError)
    if not isinstance(document["enabled"], bool):
        raise ConfigError(f"{source}: 'enabled' must be true or false, got {document['enabled']!r}")
    values = {key: _number(document[key], key, source) for key in NUMBERS}
    if values["min_reference_days"] > values["reference_days"]:
        raise ConfigError(f"{source}: 'min_reference_days' must be at most 'reference_days'")
    statistics = {f.name: values[f.name] for f in fields(drift.DriftSettings)}
    return DriftPolicy(
        settings=drift.DriftSettings(**statistics),
        enabled=document["enabled"],
        check_every_minutes=int(values["check_every_minutes"]),
        backfill_days=int(values["backfill_days"]),
        source=source,
    )


def _number(value: object, key: str, source: str) -> Any:
    kind, lowest, highest = NUMBERS[key]
    if isinstance(value, bool) or not isinstance(value, int if kind is int else (int, float)):
        what = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{source}: {key!r} must be {what}, got {value!r}")
    if not lowest <= value <= highest:
        raise ConfigError(f"{source}: {key!r} must be between {lowest:g} and {highest:g}, got {value!r}")
    return float(value) if kind is float else value


def load_policy(path: str | Path | None = None) -> DriftPolicy:
    """Reads and validates the policy file (default ``policy/drift.yml``)."""
    file = Path(path) if path else DEFAULT_FILE
    return parse_policy(read_document(file, ConfigError, "drift policy"), str(file))


# --- the days' summaries ------------------------------------------------------------------------


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    return start, start + timedelta(days=1)


def summarise(engine: Engine, day: date) -> drift.DaySummary:
    """The consented customer turns of one UTC day, counted per intent and emotion label."""
    start, end = _bounds(day)
    frustration = AnalyticsTurn.frustration
    query = (
        select(
            AnalyticsTurn.intent,
            AnalyticsTurn.emotion,
            func.count(),
            func.count(frustration),
            func.coalesce(func.sum(frustration), 0.0),
            func.coalesce(func.sum(frustration * frustration), 0.0),
        )
        .where(AnalyticsTurn.at >= start, AnalyticsTurn.at < end)
        .where(AnalyticsTurn.emotion_processing == EMOTION_ON)
        .group_by(AnalyticsTurn.intent, AnalyticsTurn.emotion)
    )
    intents: dict[str, int] = {}
    emotions: dict[str, int] = {}
    n = scored = 0
    total = squares = 0.0
    with engine.connect() as connection:
        for intent, emotion, count, count_scored, sum_scores, sum_squares in connection.execute(query):
            n += int(count)
            if intent:
                intents[intent] = intents.get(intent, 0) + int(count)
            if emotion:
                emotions[emotion] = emotions.get(emotion, 0) + int(count)
            scored += int(count_scored)
            total += float(sum_scores)
            squares += float(sum_squares)
    return drift.DaySummary(
        day=day,
        n=n,
        fallbacks=intents.get(drift.NLU_FALLBACK, 0),
        intents=intents,
        emotions=emotions,
        frustration_n=scored,
        frustration_sum=total,
        frustration_sumsq=squares,
    )


class Summaries:
    """Each day's summary read once per pass (a day's reference shares most days with the next's)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._days: dict[date, drift.DaySummary] = {}

    def __call__(self, day: date) -> drift.DaySummary:
        if day not in self._days:
            self._days[day] = summarise(self._engine, day)
        return self._days[day]

    def span(self, first: date, days: int) -> list[drift.DaySummary]:
        return [self(first + timedelta(i)) for i in range(days)]


def points_for(day: date, summaries: Summaries, settings: drift.DriftSettings) -> list[drift.Point]:
    guard_start = day - timedelta(settings.guard_days)
    reference = summaries.span(guard_start - timedelta(settings.reference_days), settings.reference_days)
    guard = summaries.span(guard_start, settings.guard_days)
    return drift.check_day(summaries(day), reference, guard, settings)


# --- checking and storing ----------------------------------------------------------------------


@dataclass(frozen=True)
class DayChecked:
    day: date
    points: list[drift.Point]
    # Out-of-control points this run stored (0 when another checker had stored the day first).
    new_alerts: int


def pending_days(engine: Engine, policy: DriftPolicy, now: datetime) -> list[date]:
    """Completed UTC days with turns on or after their first one, not checked yet, oldest first."""
    last = (now - SETTLE).date() - timedelta(days=1)
    with engine.connect() as connection:
        first_turn = connection.execute(select(func.min(AnalyticsTurn.at))).scalar()
        if first_turn is None:
            return []
        first = max(as_utc(first_turn).date(), last - timedelta(policy.backfill_days - 1))
        checked = set(
            connection.execute(select(DriftCheck.day).where(DriftCheck.day >= first).distinct()).scalars()
        )
    return [d for d in (first + timedelta(i) for i in range((last - first).days + 1)) if d not in checked]


def check_day(
    engine: Engine,
    day: date,
    settings: drift.DriftSettings,
    summaries: Summaries | None = None,
    again: bool = False,
    on_alert: Callable[[str], None] | None = None,
) -> DayChecked:
    """Checks ``day`` and stores its points (``again``: replaces the rows it has)."""
    points = points_for(day, summaries or Summaries(engine), settings)
    stored = 0
    with Session(engine) as session, session.begin():
        if again:
            session.execute(delete(DriftCheck).where(DriftCheck.day == day))
        now = datetime.now(timezone.utc)
        for point in points:
            inserted = _insert_ignore(session, _row(day, point, now))
            if inserted and point.out_of_control:
                stored += 1
                logger.warning(
                    "drift: %s%s out of control on %s: %.4f outside [%.4f, %.4f] (centre %.4f, n=%d)",
                    point.chart,
                    f" {point.key!r}" if point.key else "",
                    day.isoformat(),
                    point.value,
                    point.lower,
                    point.upper,
                    point.center,
                    point.n,
                )
                if on_alert is not None:
                    on_alert(point.chart)
    return DayChecked(day, points, stored)


def check_pending(
    engine: Engine, policy: DriftPolicy, now: datetime, on_alert: Callable[[str], None] | None = None
) -> list[DayChecked]:
    summaries = Summaries(engine)
    return [
        check_day(engine, day, policy.settings, summaries, on_alert=on_alert)
        for day in pending_days(engine, policy, now)
    ]


def _row(day: date, point: drift.Point, now: datetime) -> dict[str, Any]:
    return {
        "day": day,
        "chart": point.chart,
        "key": point.key[:64],
        "value": point.value,
        "center": point.center,
        "lower": point.lower,
        "upper": point.upper,
        "n": point.n,
        "status": point.status,
        "checked_at": now,
    }


def _insert_ignore(session: Session, values: dict[str, Any]) -> int:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(DriftCheck).values(**values).on_conflict_do_nothing()
    return 1 if session.execute(statement).rowcount == 1 else 0


# --- the alerts the console shows --------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """A chart out of control on the latest checked day, out since ``since`` (consecutive days)."""

    chart: str
    key: str
    since: date
    day: date
    value: float
    lower: float
    upper: float


def active_alerts(engine: Engine) -> list[Alert]:
    with engine.connect() as connection:
        latest = connection.execute(
            select(func.max(DriftCheck.day)).where(DriftCheck.chart != drift.VOLUME)
        ).scalar()
        if latest is None:
            return []
        rows = connection.execute(
            select(DriftCheck)
            .where(DriftCheck.day > latest - timedelta(RUN_LOOKBACK_DAYS), DriftCheck.chart != drift.VOLUME)
            .order_by(DriftCheck.day)
        ).all()
    checked_days = sorted({row.day for row in rows}, reverse=True)
    status = {(row.day, row.chart, row.key): row.status for row in rows}
    alerts = []
    for row in rows:
        if row.day != latest or row.status != drift.OUT_OF_CONTROL:
            continue
        since = latest
        for earlier in checked_days[1:]:
            if status.get((earlier, row.chart, row.key)) != drift.OUT_OF_CONTROL:
                break
            since = earlier
        alerts.append(Alert(row.chart, row.key, since, latest, row.value, row.lower, row.upper))
    return sorted(alerts, key=lambda a: (a.since, a.chart, a.key))


@dataclass
class DriftBoard:
    """What the console's banner shows: refreshed by the worker, read by every page render."""

    alerts: tuple[Alert, ...] = ()
    refreshed_at: datetime | None = None


DRIFT_BOARD = web.AppKey("drift_board", DriftBoard)
DRIFT_POLICY = web.AppKey("drift_policy", DriftPolicy)


async def refresh_board(app: web.Application) -> None:
    """Reads the active alerts into the app's board and the out-of-control gauge."""
    alerts = await asyncio.to_thread(active_alerts, app[ENGINE])
    board = app[DRIFT_BOARD]
    board.alerts = tuple(alerts)
    board.refreshed_at = datetime.now(timezone.utc)
    app[METRICS].drift_out_of_control_now([a.chart for a in alerts])


async def run(app: web.Application) -> None:
    """Checks the pending days every ``check_every_minutes`` until cancelled."""
    policy = app[DRIFT_POLICY]
    await asyncio.sleep(FIRST_PASS_SECONDS)
    while True:
        try:
            await asyncio.to_thread(
                check_pending, app[ENGINE], policy, datetime.now(timezone.utc), app[METRICS].drift_alert
            )
            await refresh_board(app)
        except Exception:
            logger.exception("drift check failed; trying again in %.0f s", RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)
            continue
        await asyncio.sleep(policy.check_every_minutes * 60)


async def _worker(app: web.Application) -> AsyncIterator[None]:
    try:
        await refresh_board(app)
    except Exception:
        logger.exception("could not read the drift alerts; the banner shows none until the next pass")
    task = asyncio.create_task(run(app)) if app[DRIFT_POLICY].enabled else None
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def setup(app: web.Application, policy_file: str | Path | None = None) -> None:
    """Reads policy/drift.yml (a mistake stops the service here) and adds the worker (after the database)."""
    app[DRIFT_POLICY] = load_policy(policy_file)
    app[DRIFT_BOARD] = DriftBoard()
    app.cleanup_ctx.append(_worker)
