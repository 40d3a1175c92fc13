"""Ingestion: broker events into the analytics tables, exactly once per event.

The brokers deliver at least once (the Pika broker resends what it held while RabbitMQ was away; a
consumer killed after writing rows but before moving its cursor reads them again).  So:

- every fact row has a unique ``(conversation_id, event_key)`` and is inserted with "on conflict do
  nothing": the second delivery of an event adds nothing;
- a conversation's counters move only when a fact row was really inserted, in the same transaction;
- for the SQL broker, the cursor (the last ``events.id`` read) is written in that same transaction,
  so rows and cursor commit together or not at all.  A batch whose first ids are at or below the
  cursor (another consumer got there first) is trimmed to what is new;
- an event of an erased conversation dated at or before its erasure (still queued in RabbitMQ, or
  resent by the Pika broker) is dropped, so it cannot bring the customer back
  (handoff/analytics/erased.py, one query per batch).
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final

from sqlalchemy import inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.analytics import erased, events, idle_csat
from handoff.core.db import as_utc
from handoff.core.models import (
    AnalyticsCallback,
    AnalyticsConversation,
    AnalyticsCsat,
    AnalyticsCursor,
    AnalyticsEscalation,
    AnalyticsExposure,
    AnalyticsTurn,
)
from handoff.shared.conversation_ids import PREFIXES

logger = logging.getLogger(__name__)

# The cursor row of Rasa's SQL event broker (its table is called ``events``).
SQL_BROKER: Final = "sql-broker:events"
BROKER_TABLE: Final = "events"


@dataclass(frozen=True)
class BrokerRow:
    """One row of the SQL broker's ``events`` table (or one Pika message, with no id)."""

    id: int | None
    data: str


@dataclass
class BatchResult:
    read: int = 0
    inserted: int = 0
    # Rows that are not a usable Rasa event (broken JSON, no sender, an absurd timestamp).
    skipped: int = 0
    # Events of an erased conversation from before its erasure (handoff/analytics/erased.py).
    erased: int = 0
    position: int | None = None
    # When each ingested event happened (epoch seconds): the benchmark's lag is commit time minus these.
    event_times: list[float] = field(default_factory=list)


def channel_of(conversation_id: str) -> str | None:
    """``web``, ``rest``, ``sms`` or ``whatsapp`` from the namespaced id; None before namespacing."""
    for prefix in PREFIXES:
        if conversation_id.startswith(prefix):
            return prefix.rstrip(":")
    return None


def position(engine: Engine, source: str = SQL_BROKER) -> int:
    """How far ``source`` has been ingested (0: nothing yet)."""
    with Session(engine) as session:
        row = session.get(AnalyticsCursor, source)
        return int(row.position) if row is not None else 0


def read_batch(broker: Engine, after: int, limit: int) -> list[BrokerRow]:
    """The SQL broker's next ``limit`` events after id ``after`` (none before Rasa creates the table)."""
    if not inspect(broker).has_table(BROKER_TABLE):
        return []
    with broker.connect() as connection:
        rows = connection.execute(
            text(f"SELECT id, data FROM {BROKER_TABLE} WHERE id > :after ORDER BY id LIMIT :limit"),
            {"after": after, "limit": limit},
        ).all()
    return [BrokerRow(int(row[0]), str(row[1] or "")) for row in rows]


def ingest(
    engine: Engine,
    rows: Sequence[BrokerRow],
    source: str | None = SQL_BROKER,
    before_commit: Callable[[], None] | None = None,
) -> BatchResult:
    """Writes the facts of ``rows`` (in order) and, with a ``source``, moves its cursor to the last id.

    ``before_commit`` runs inside the transaction after everything is written (the tests kill the
    batch there).  Without a ``source`` (a Pika message) only the unique keys stop duplicates.
    """
    result = BatchResult()
    with Session(engine) as session, session.begin():
        cursor = _lock_cursor(session, source) if source is not None else None
        fresh = [row for row in rows if cursor is None or row.id is None or row.id > cursor.position]
        result.read = len(fresh)
        batch = [parsed for row in fresh if (parsed := events.parse(row.data)) is not None]
        result.skipped = len(fresh) - len(batch)
        erasures = erased.erased_at(session, {parsed.conversation_id for parsed in batch})
        conversations: dict[str, AnalyticsConversation] = {}
        idle = idle_csat.Signals()  # the idle CSAT trigger's candidates (docs/analytics.md, "CSAT")
        for parsed in batch:
            erased_at = erasures.get(parsed.conversation_id)
            if erased_at is not None and parsed.at <= erased_at:
                result.erased += 1
                continue
            conversation = conversations.get(parsed.conversation_id)
            if conversation is None:
                conversation = _conversation(session, parsed.conversation_id, parsed.at)
                conversations[parsed.conversation_id] = conversation
            _touch(conversation, parsed.at)
            idle.add(parsed)
            if parsed.fact is not None:
                result.inserted += _record(session, conversation, parsed)
            result.event_times.append(parsed.at.timestamp())
        idle.apply(session)
        if cursor is not None and fresh and fresh[-1].id is not None:
            cursor.position = fresh[-1].id
            cursor.updated_at = datetime.now(timezone.utc)
        result.position = int(cursor.position) if cursor is not None else None
        if before_commit is not None:
            before_commit()
    if result.skipped:
        logger.warning("analytics skipped %d broker rows that are not Rasa events", result.skipped)
    if result.erased:
        logger.info("analytics dropped %d events of erased conversations", result.erased)
    return result


def _lock_cursor(session: Session, source: str) -> AnalyticsCursor:
    """The cursor row, created at 0, and locked for the batch (Postgres; SQLite locks the file on write)."""
    _insert_ignore(session, AnalyticsCursor, {"source": source, "position": 0, "updated_at": _now()})
    cursor: AnalyticsCursor = session.execute(
        select(AnalyticsCursor).where(AnalyticsCursor.source == source).with_for_update()
    ).scalar_one()
    return cursor


def _conversation(session: Session, conversation_id: str, at: datetime) -> AnalyticsConversation:
    _insert_ignore(
        session,
        AnalyticsConversation,
        {
            "conversation_id": conversation_id,
            "channel": channel_of(conversation_id),
            "started_at": at,
            "last_event_at": at,
            "turns": 0,
            "escalations": 0,
        },
    )
    row: AnalyticsConversation = session.execute(
        select(AnalyticsConversation).where(AnalyticsConversation.conversation_id == conversation_id)
    ).scalar_one()
    return row


def _touch(conversation: AnalyticsConversation, at: datetime) -> None:
    if at < as_utc(conversation.started_at):
        conversation.started_at = at
    if at > as_utc(conversation.last_event_at):
        conversation.last_event_at = at


def _record(session: Session, conversation: AnalyticsConversation, parsed: events.Parsed) -> int:
    """Inserts the event's fact row; 1 if it is new (the counters then move), 0 if seen before."""
    fact = parsed.fact
    key = {"conversation_id": parsed.conversation_id, "event_key": parsed.event_key, "at": parsed.at}
    if isinstance(fact, events.Turn):
        inserted = _insert_ignore(session, AnalyticsTurn, {**key, **_turn_values(fact)})
        conversation.turns += inserted
        return inserted
    if isinstance(fact, events.Escalation):
        values = {"turn": fact.turn, "decision": fact.decision, "reason": fact.reason}
        inserted = _insert_ignore(session, AnalyticsEscalation, {**key, **values})
        if inserted:
            conversation.escalations += 1
            first = conversation.first_escalation_at
            if first is None or parsed.at < as_utc(first):
                conversation.first_escalation_at = parsed.at
                conversation.first_escalation_turn = fact.turn
        return inserted
    if isinstance(fact, events.Callback):
        return _insert_ignore(session, AnalyticsCallback, {**key, "status": fact.status})
    if isinstance(fact, events.Csat):
        return _insert_ignore(session, AnalyticsCsat, {**key, "score": fact.score, "comment": fact.comment})
    if isinstance(fact, events.Exposure):
        # One row per conversation and experiment (its unique key): the first exposure wins.
        exposure: dict[str, Any] = {"experiment": fact.experiment, "variant": fact.variant}
        exposure.update(conversation_id=parsed.conversation_id, at=parsed.at)
        return _insert_ignore(session, AnalyticsExposure, exposure)
    if isinstance(fact, events.HandoffStatus):
        # Not a row: the status of the latest status EVENT.  Resent events arrive out of order, so an
        # older one delivered later changes nothing; a tie goes to the later delivered.
        set_at = conversation.handoff_status_at
        if set_at is None or parsed.at >= as_utc(set_at):
            conversation.handoff_status = fact.status
            conversation.handoff_status_at = parsed.at
    return 0


def _turn_values(turn: events.Turn) -> dict[str, Any]:
    return {
        "turn": turn.turn,
        "intent": turn.intent,
        "confidence": turn.confidence,
        "outcome": turn.outcome,
        "tone": turn.tone,
        "decision": turn.decision,
        "emotion_processing": turn.emotion_processing,
        "frustration": turn.frustration,
        "distress": turn.distress,
        "emotion": turn.emotion,
    }


def _insert_ignore(session: Session, model: Any, values: dict[str, Any]) -> int:
    """INSERT … ON CONFLICT DO NOTHING on SQLite and PostgreSQL; 1 if the row was inserted."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model).values(**values).on_conflict_do_nothing()
    return 1 if session.execute(statement).rowcount == 1 else 0


def _now() -> datetime:
    return datetime.now(timezone.utc)
