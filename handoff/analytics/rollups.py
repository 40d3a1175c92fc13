"""Daily roll-ups of the analytics tables for the supervisor dashboard (migration 0021).

The dashboard reads ``analytics_daily``: per UTC day, channel, measure and label (a reason, a
status, a score band), a ``count`` and a ``total`` (a sum of seconds, turns, scores).  A day is
computed from the fact tables in one pass and replaced whole, so a recomputation never double counts.

Which days are recomputed, on demand (``refresh``), in one transaction that serialises refreshes:

- days that rows ingested since the last refresh fall on: each fact table's largest id is remembered
  (``analytics_rollup_marks``), and the new rows' event days and their conversations' start days
  are recomputed.  New rows that fall only on an open day whose roll-up is younger than ``ttl`` wait
  (their mark stays) for that day's next recomputation, so page loads during ingestion do not each
  recompute today: today and yesterday are at most ``ttl`` behind;
- "open" days (today and yesterday, UTC) once their roll-up is older than ``ttl``: a handoff's
  status changes without a fact row, and on PostgreSQL a row can commit after a larger id.  The
  service's worker (handoff/analytics/rollup_worker.py) recomputes them more often than ``ttl``, so
  no page load pays for it;
- days of the asked period never computed (a day without data is remembered as computed too);
- days marked stale (``mark_stale``): erasure and retention (handoff/analytics/privacy.py) delete or
  scrub fact rows without a new id, so they mark the days those conversations touched, in their own
  transaction, and the next refresh (a page load or the worker, handoff/analytics/rollup_worker.py)
  recomputes them from what is left.

A conversation counts on the day it started; turns, escalations, call-backs and CSAT answers on the
day they happened.  The roll-ups hold counts and sums only, never a conversation id.
"""

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Final, Literal, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import Select

from handoff.analytics.events import EMOTION_OFF
from handoff.core.db import as_utc
from handoff.core.models import (
    AnalyticsCallback,
    AnalyticsConversation,
    AnalyticsCsat,
    AnalyticsEscalation,
    AnalyticsTurn,
)

# The roll-up tables (migration 0021).  Core tables: nothing but this module writes or reads them.
_metadata = MetaData()
daily = Table(
    "analytics_daily",
    _metadata,
    Column("day", Date, primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("metric", String(32), primary_key=True),
    Column("label", String(160), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("total", Float, nullable=False),
)
rollup_days = Table(
    "analytics_rollup_days",
    _metadata,
    Column("day", Date, primary_key=True),
    Column("computed_at", DateTime(timezone=True), nullable=False),
)
rollup_marks = Table(
    "analytics_rollup_marks",
    _metadata,
    Column("source", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

Measure = Literal[
    "conversations",
    "contained",
    "time_to_escalation",
    "turns_to_escalation",
    "frustration_at_handoff",
    "self_service",
    "escalations",
    "tone_turns",
    "tone_changes",
    "callbacks",
    "csat",
]
CONVERSATIONS: Final = "conversations"
CONTAINED: Final = "contained"
TIME_TO_ESCALATION: Final = "time_to_escalation"
TURNS_TO_ESCALATION: Final = "turns_to_escalation"
FRUSTRATION_AT_HANDOFF: Final = "frustration_at_handoff"
SELF_SERVICE: Final = "self_service"
ESCALATIONS: Final = "escalations"
TONE_TURNS: Final = "tone_turns"
TONE_CHANGES: Final = "tone_changes"
CALLBACKS: Final = "callbacks"
CSAT: Final = "csat"
SUCCESS, FAILED = "success", "failed"
UNKNOWN_CHANNEL: Final = ""  # a conversation id from before channels were namespaced
MAX_LABEL: Final = 160

# The self-service outcomes that mean the customer's need was not met: actions/outcomes.py
# FAILURE_REASONS (the handoff service may not import the action server; a test keeps them equal).
FAILED_OUTCOMES: Final = frozenset(
    {
        "order_not_found",
        "delivery_delayed",
        "marked_delivered_but_missing",
        "not_delivered_yet",
        "return_window_closed",
        "no_refund",
        "refund_rejected",
        "refund_pending",
        "no_duplicate_found",
        "order_details_mismatch",
        "code_wrong",
        "verification_abandoned",
        "not_verified",
        "rate_limited",
        "no_subscription",
        "lookup_error",
    }
)
FRUSTRATION_BANDS: Final = 5  # 0.0-0.2, 0.2-0.4, ... labelled by their lower bound
OPEN_DAYS: Final = 2  # today and yesterday
DEFAULT_TTL: Final = timedelta(seconds=60)
REFRESH_LOCK: Final = "refresh"  # the marks row every refresh locks first
# A computed day whose rows changed under it (erasure, retention): recomputed by the next refresh.
STALE: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
FACT_TABLES: Final = (AnalyticsTurn, AnalyticsEscalation, AnalyticsCallback, AnalyticsCsat)

Key = tuple[str, str, str]  # channel, measure, label
T = TypeVar("T")


@dataclass(frozen=True)
class Refreshed:
    days: int  # how many days were recomputed


def refresh(
    engine: Engine, first: date, last: date, now: datetime, ttl: timedelta = DEFAULT_TTL
) -> Refreshed:
    """Brings the roll-ups of ``first``..``last`` (and of every day new rows fall on) up to date."""
    # Most page loads find nothing to do: read first, so they never take the write lock.
    with engine.connect() as connection:
        if not _anything_stale(connection, first, last, now, ttl):
            return Refreshed(0)
    with engine.begin() as connection:
        _lock(connection)
        stale = (
            _dirty_days(connection)
            | _open_days(connection, now, ttl)
            | _missing(connection, first, last)
            | _marked_stale(connection)
        )
        for day in sorted(stale):
            _compute_day(connection, day, now)
    return Refreshed(len(stale))


def mark_stale(connection: Connection, conversations: Select[Any] | Sequence[str]) -> int:
    """Marks the computed days these conversations touched (from their start to their last event)
    stale, in the caller's transaction; call it before their rows are deleted or scrubbed.  It takes
    the refresh lock first, so a refresh running now cannot store a day computed from rows this
    transaction is changing.  Days never computed stay so.  Returns how many days it marked.
    """
    c = AnalyticsConversation
    where = c.conversation_id.in_(
        conversations if isinstance(conversations, Select) else sorted(conversations)
    )
    _lock(connection)
    days: set[date] = set()
    spans = connection.execute(select(c.started_at, c.last_event_at).where(where).distinct())
    for started, last in spans:
        days.update(_days_between(as_utc(started).date(), as_utc(last).date()))
    marked = 0
    for chunk in _chunks(sorted(days), 500):
        marked += int(
            connection.execute(
                rollup_days.update()
                .where(rollup_days.c.day.in_(chunk), rollup_days.c.computed_at > STALE)
                .values(computed_at=STALE)
            ).rowcount
            or 0
        )
    return marked


def rebuild(engine: Engine, now: datetime) -> Refreshed:
    """Recomputes every day that has data (after a bulk load, or to pick up erasures)."""
    with engine.begin() as connection:
        _lock(connection)
        _dirty_days(connection)  # moves the marks: everything is recomputed below
        bounds = connection.execute(select(func.min(AnalyticsTurn.at), func.max(AnalyticsTurn.at))).one()
        starts = connection.execute(
            select(func.min(AnalyticsConversation.started_at), func.max(AnalyticsConversation.started_at))
        ).one()
        moments = [as_utc(m) for m in (*bounds, *starts) if m is not None]
        days = set(_days_between(min(moments).date(), max(moments).date())) if moments else set()
        for day in sorted(days):
            _compute_day(connection, day, now)
    return Refreshed(len(days))


# --- which days ---------------------------------------------------------------------------------
def _lock(connection: Connection) -> None:
    """Serialises refreshes (PostgreSQL row lock; SQLite locks the file on the first write)."""
    _insert_ignore(connection, rollup_marks, {"source": REFRESH_LOCK, "position": 0})
    connection.execute(
        select(rollup_marks.c.position).where(rollup_marks.c.source == REFRESH_LOCK).with_for_update()
    ).one()


def _anything_stale(connection: Connection, first: date, last: date, now: datetime, ttl: timedelta) -> bool:
    """Whether a refresh has work: new rows on a day other than a fresh open one (those wait for the
    open day's TTL, or the worker, so a page load during ingestion does not recompute today), an open
    day past its TTL, a day of the period never computed, or a day marked stale.  Reads only.
    """
    new_rows, _ = _new_rows(connection)
    stale_open = _open_days(connection, now, ttl)
    fresh_open = set(_open_window(now)) - stale_open
    return bool(
        (new_rows - fresh_open)
        or stale_open
        or _missing(connection, first, last)
        or _marked_stale(connection)
    )


def _dirty_days(connection: Connection) -> set[date]:
    """The days rows ingested since the last refresh fall on; the marks move past those rows."""
    days, positions = _new_rows(connection)
    for source, position in positions.items():
        _insert_ignore(connection, rollup_marks, {"source": source, "position": 0})
        connection.execute(
            rollup_marks.update().where(rollup_marks.c.source == source).values(position=position)
        )
    return days


def _new_rows(connection: Connection) -> tuple[set[date], dict[str, int]]:
    """The event days of the rows past each fact table's mark and their conversations' start days,
    and each table's largest id (where its mark moves to).
    """
    conversation = AnalyticsConversation.__table__
    rows = connection.execute(select(rollup_marks.c.source, rollup_marks.c.position)).all()
    marks = {str(source): int(position) for source, position in rows}
    days: set[date] = set()
    positions: dict[str, int] = {}
    for model in FACT_TABLES:
        table = model.__table__
        mark = marks.get(table.name, 0)
        newest = connection.execute(select(func.max(table.c.id))).scalar()
        if newest is None or newest <= mark:
            continue  # the usual page load: one index look-up per table
        # The new rows first (their id range), then their conversations: never a scan of either table.
        fresh = select(table.c.id, table.c.at, table.c.conversation_id).where(table.c.id > mark).subquery()
        row = connection.execute(
            select(
                func.max(fresh.c.id),
                func.min(fresh.c.at),
                func.max(fresh.c.at),
                func.min(conversation.c.started_at),
                func.max(conversation.c.started_at),
            ).select_from(
                fresh.outerjoin(conversation, fresh.c.conversation_id == conversation.c.conversation_id)
            )
        ).one()
        if row[0] is None:
            continue
        moments = [as_utc(m) for m in row[1:] if m is not None]
        days.update(_days_between(min(moments).date(), max(moments).date()))
        positions[table.name] = int(row[0])
    return days, positions


def _open_window(now: datetime) -> list[date]:
    today = now.astimezone(timezone.utc).date()
    return [today - timedelta(days=n) for n in range(OPEN_DAYS)]


def _open_days(connection: Connection, now: datetime, ttl: timedelta) -> set[date]:
    """The open days (today and yesterday) whose roll-up is older than ``ttl`` (or missing)."""
    open_days = set(_open_window(now))
    fresh = connection.execute(
        select(rollup_days.c.day).where(
            rollup_days.c.day.in_(open_days), rollup_days.c.computed_at > now - ttl
        )
    ).scalars()
    return open_days - set(fresh)


def _missing(connection: Connection, first: date, last: date) -> set[date]:
    wanted = set(_days_between(first, last))
    known = connection.execute(
        select(rollup_days.c.day).where(rollup_days.c.day >= first, rollup_days.c.day <= last)
    ).scalars()
    return wanted - set(known)


def _marked_stale(connection: Connection) -> set[date]:
    return set(
        connection.execute(select(rollup_days.c.day).where(rollup_days.c.computed_at <= STALE)).scalars()
    )


def _days_between(first: date, last: date) -> Iterator[date]:
    for n in range((last - first).days + 1):
        yield first + timedelta(days=n)


# --- one day ------------------------------------------------------------------------------------
def _compute_day(connection: Connection, day: date, now: datetime) -> None:
    start = datetime.combine(day, time(), timezone.utc)
    end = start + timedelta(days=1)
    counts: Counter[Key] = Counter()
    totals: defaultdict[Key, float] = defaultdict(float)
    for key, total in (
        *_conversation_facts(connection, start, end),
        *_turn_facts(connection, start, end),
        *_tone_facts(connection, start, end),
        *_labelled(connection, AnalyticsEscalation, AnalyticsEscalation.reason, ESCALATIONS, start, end),
        *_labelled(connection, AnalyticsCallback, AnalyticsCallback.status, CALLBACKS, start, end),
        *_csat_facts(connection, start, end),
    ):
        counts[key] += 1
        totals[key] += total
    connection.execute(delete(daily).where(daily.c.day == day))
    if counts:
        connection.execute(
            insert(daily),
            [
                {
                    "day": day,
                    "channel": c,
                    "metric": m,
                    "label": label,
                    "count": n,
                    "total": totals[(c, m, label)],
                }
                for (c, m, label), n in counts.items()
            ],
        )
    connection.execute(delete(rollup_days).where(rollup_days.c.day == day))
    connection.execute(insert(rollup_days).values(day=day, computed_at=now))


Fact = tuple[Key, float]


def _channel(value: Any) -> str:
    return str(value) if value else UNKNOWN_CHANNEL


def _conversation_facts(connection: Connection, start: datetime, end: datetime) -> Iterator[Fact]:
    c = AnalyticsConversation
    rows = connection.execute(
        select(
            c.conversation_id,
            c.channel,
            c.started_at,
            c.first_escalation_at,
            c.first_escalation_turn,
            c.handoff_status,
        ).where(c.started_at >= start, c.started_at < end)
    ).all()
    handed_off: dict[str, tuple[str, int | None]] = {}
    for conversation_id, channel, started, escalated, turn, status in rows:
        channel = _channel(channel)
        yield (channel, CONVERSATIONS, ""), 0.0
        if status is None:
            yield (channel, CONTAINED, ""), 0.0
        else:
            handed_off[conversation_id] = (channel, turn)
        if escalated is not None:
            seconds = max(0.0, (as_utc(escalated) - as_utc(started)).total_seconds())
            yield (channel, TIME_TO_ESCALATION, ""), seconds
            if turn is not None:
                yield (channel, TURNS_TO_ESCALATION, ""), float(turn)
    yield from _frustration_at_handoff(connection, handed_off)


def _frustration_at_handoff(
    connection: Connection, handed_off: dict[str, tuple[str, int | None]]
) -> Iterator[Fact]:
    """The frustration of the turn where the bot first escalated, for conversations handed to a
    person in which every turn had emotion processing on (an opted-out customer contributes nothing).
    """
    t = AnalyticsTurn
    scores: dict[str, float] = {}
    opted_out: set[str] = set()
    for chunk in _chunks(sorted(handed_off), 500):
        rows = connection.execute(
            select(t.conversation_id, t.turn, t.emotion_processing, t.frustration).where(
                t.conversation_id.in_(chunk)
            )
        ).all()
        for conversation_id, turn, processing, frustration in rows:
            if processing == EMOTION_OFF:
                opted_out.add(conversation_id)
            elif turn == handed_off[conversation_id][1] and frustration is not None:
                scores[conversation_id] = float(frustration)
    for conversation_id, score in scores.items():
        if conversation_id not in opted_out and math.isfinite(score):
            band = min(int(score * FRUSTRATION_BANDS), FRUSTRATION_BANDS - 1) / FRUSTRATION_BANDS
            yield (handed_off[conversation_id][0], FRUSTRATION_AT_HANDOFF, f"{band:.1f}"), score


def _turn_facts(connection: Connection, start: datetime, end: datetime) -> Iterator[Fact]:
    t, c = AnalyticsTurn, AnalyticsConversation
    rows = connection.execute(
        select(c.channel, t.outcome)
        .join(c, c.conversation_id == t.conversation_id)
        .where(t.at >= start, t.at < end, t.outcome.is_not(None))
    ).all()
    for channel, outcome in rows:
        yield (_channel(channel), SELF_SERVICE, FAILED if outcome in FAILED_OUTCOMES else SUCCESS), 0.0


def _tone_facts(connection: Connection, start: datetime, end: datetime) -> Iterator[Fact]:
    """Each toned turn of the day that has an earlier toned turn, and whether the tone changed."""
    t, c = AnalyticsTurn, AnalyticsConversation
    todays = connection.execute(select(t.conversation_id).where(t.at >= start, t.at < end).distinct())
    # The day's conversations as a list, a chunk at a time: PostgreSQL then reads their turns by the
    # conversation index instead of scanning every turn before ``end`` for the window.
    for chunk in _chunks(sorted(todays.scalars()), 500):
        toned = (
            select(
                t.conversation_id,
                t.at,
                t.tone,
                func.lag(t.tone)
                .over(partition_by=t.conversation_id, order_by=(t.turn, t.at, t.id))
                .label("before"),
            )
            .where(t.conversation_id.in_(chunk), t.at < end, t.tone.is_not(None))
            .subquery()
        )
        rows = connection.execute(
            select(c.channel, toned.c.tone, toned.c.before)
            .join(c, c.conversation_id == toned.c.conversation_id)
            .where(toned.c.at >= start, toned.c.before.is_not(None))
        ).all()
        for channel, tone, before in rows:
            yield (_channel(channel), TONE_TURNS, ""), 0.0
            if tone != before:
                yield (_channel(channel), TONE_CHANGES, f"{before}→{tone}"[:MAX_LABEL]), 0.0


def _labelled(
    connection: Connection, model: Any, column: Any, measure: str, start: datetime, end: datetime
) -> Iterator[Fact]:
    c = AnalyticsConversation
    rows = connection.execute(
        select(c.channel, column)
        .join(c, c.conversation_id == model.conversation_id)
        .where(model.at >= start, model.at < end)
    ).all()
    for channel, label in rows:
        yield (_channel(channel), measure, str(label)[:MAX_LABEL]), 0.0


def _csat_facts(connection: Connection, start: datetime, end: datetime) -> Iterator[Fact]:
    s, c = AnalyticsCsat, AnalyticsConversation
    rows = connection.execute(
        select(c.channel, s.score)
        .join(c, c.conversation_id == s.conversation_id)
        .where(s.at >= start, s.at < end)
    ).all()
    for channel, score in rows:
        yield (_channel(channel), CSAT, str(int(score))), float(score)


def _chunks(items: list[T], size: int) -> Iterable[list[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _insert_ignore(connection: Connection, table: Table, values: dict[str, Any]) -> None:
    dialect = connection.dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table).values(**values)
    connection.execute(statement.on_conflict_do_nothing())
