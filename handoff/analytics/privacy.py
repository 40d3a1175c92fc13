"""What retention, export and erasure (handoff/privacy/personal_data.py) do to analytics data.

- The analytics tables hold, per conversation, codes and scores (frustration and distress only with
  consent) and a CSAT answer's comment, in the customer's words.
- Rasa's SQL event broker table (``events``, ATTUNE_EVENT_BROKER_URL) holds a copy of every tracker
  event as JSON text: the customer's messages, their emotion readings, the slots.  It has no time
  column of its own, so its rows are dated by the ``timestamp`` inside the JSON.

Erasure deletes both for the customer's conversations and, in the transaction that deletes the
analytics rows, records each conversation as erased (``analytics_erased``, by the SHA-256 of its id;
handoff/analytics/erased.py): an event of theirs still queued in RabbitMQ or resent by the Pika
broker, dated at or before the erasure, is then dropped by ingestion instead of bringing the rows
back.

The daily roll-ups hold counts, never a conversation id; erasure and retention mark the days the
affected conversations touched stale in the same transaction (``rollups.mark_stale``), so the next
refresh recomputes them from what is left.

Retention: after the emotion period the turns lose their scores and the broker's rows their emotion
data (the tracker's rule); after the transcript period the broker's rows go, CSAT comments are
cleared and whole conversations' analytics rows go with them (the metrics are kept only as long as
the transcripts they describe), and so do the records of erasures older than that (an event older
than the period that still arrived would go with its conversation at the next purge).
"""

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, inspect, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.analytics import erased, rollups
from handoff.analytics.ingest import BROKER_TABLE
from handoff.core.db import as_utc
from handoff.core.models import (
    AnalyticsCallback,
    AnalyticsConversation,
    AnalyticsCsat,
    AnalyticsEscalation,
    AnalyticsExposure,
    AnalyticsTurn,
    CsatIdle,
)

# How many computed roll-up days an erasure or a purge marked stale (the next refresh recomputes them).
ROLLUP_DAYS_STALE: Final = "analytics_rollup_days_stale"
# How many conversations an erasure recorded as erased, and a purge forgot (handoff/analytics/erased.py).
ERASED_RECORDED: Final = "analytics_erased"
ERASED_PURGED: Final = "analytics_erased_deleted"
# Per conversation, so exported, erased and purged with them; ``csat_idle`` is the idle CSAT trigger's.
FACT_TABLES: Final = (
    AnalyticsTurn,
    AnalyticsEscalation,
    AnalyticsCallback,
    AnalyticsCsat,
    AnalyticsExposure,
    CsatIdle,
)
# Broker rows are read in pages (the table holds every event of every conversation).
PAGE: Final = 1000


def _rows(session: Session, model: Any, conversations: set[str]) -> list[dict[str, Any]]:
    rows = session.execute(
        select(model)
        .where(model.conversation_id.in_(sorted(conversations)))
        .order_by(*model.__table__.primary_key.columns)
    ).scalars()
    return [_plain(row) for row in rows]


def _plain(row: Any) -> dict[str, Any]:
    values = {column.name: getattr(row, column.name) for column in row.__table__.columns}
    return {k: as_utc(v).isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def export(engine: Engine, conversations: set[str]) -> dict[str, list[dict[str, Any]]]:
    """The analytics rows of these conversations, table by table."""
    if not conversations:
        return {}
    with Session(engine) as session:
        found = {
            str(model.__tablename__): _rows(session, model, conversations)
            for model in (AnalyticsConversation, *FACT_TABLES)
        }
    return {name: rows for name, rows in found.items() if rows}


def erase(session: Session, conversations: set[str], now: datetime | None = None) -> dict[str, int]:
    """Deletes these conversations' analytics rows and records them as erased at ``now`` (in the
    caller's transaction), so their events still on the way are dropped when they arrive.
    """
    counts: dict[str, int] = {}
    if not conversations:
        return counts
    ids = sorted(conversations)
    stale = rollups.mark_stale(session.connection(), ids)
    for model in (*FACT_TABLES, AnalyticsConversation):
        deleted = session.execute(delete(model).where(model.conversation_id.in_(ids))).rowcount
        counts[str(model.__tablename__)] = int(deleted or 0)
    counts[ROLLUP_DAYS_STALE] = stale
    counts[ERASED_RECORDED] = erased.record(session, ids, now)
    return counts


def purge(engine: Engine, emotion_cutoff: datetime, transcript_cutoff: datetime) -> dict[str, int]:
    """Applies the retention periods to the analytics tables."""
    counts: dict[str, int] = {}
    with Session(engine) as session, session.begin():
        old = select(AnalyticsConversation.conversation_id).where(
            AnalyticsConversation.last_event_at < transcript_cutoff
        )
        scored = (
            select(AnalyticsTurn.conversation_id)
            .where(AnalyticsTurn.at < emotion_cutoff)
            .where((AnalyticsTurn.frustration.is_not(None)) | (AnalyticsTurn.distress.is_not(None)))
        )
        connection = session.connection()
        counts[ROLLUP_DAYS_STALE] = rollups.mark_stale(connection, old) + rollups.mark_stale(
            connection, scored
        )
        for model in FACT_TABLES:
            deleted = session.execute(
                delete(model)
                .where(model.conversation_id.in_(old))
                .execution_options(synchronize_session=False)
            ).rowcount
            counts[f"{model.__tablename__}_deleted"] = int(deleted or 0)
        counts["analytics_conversations_deleted"] = int(
            session.execute(
                delete(AnalyticsConversation).where(AnalyticsConversation.last_event_at < transcript_cutoff)
            ).rowcount
            or 0
        )
        counts["analytics_turns_scrubbed"] = int(
            session.execute(
                update(AnalyticsTurn)
                .where(AnalyticsTurn.at < emotion_cutoff)
                .where(
                    (AnalyticsTurn.frustration.is_not(None))
                    | (AnalyticsTurn.distress.is_not(None))
                    | (AnalyticsTurn.emotion.is_not(None))
                )
                .values(frustration=None, distress=None, emotion=None)
            ).rowcount
            or 0
        )
        counts[ERASED_PURGED] = erased.purge(session, transcript_cutoff)
    return counts


# --- the SQL broker's raw events table --------------------------------------------------------


def has_broker_table(broker: Engine | None) -> bool:
    return broker is not None and bool(inspect(broker).has_table(BROKER_TABLE))


def broker_events(broker: Engine | None, conversations: set[str]) -> dict[str, list[Any]]:
    """The broker's copies of these conversations' events, oldest first."""
    if broker is None or not conversations or not has_broker_table(broker):
        return {}
    found: dict[str, list[Any]] = {}
    with broker.connect() as connection:
        for sender in sorted(conversations):
            rows = connection.execute(
                text(f"SELECT data FROM {BROKER_TABLE} WHERE sender_id = :s ORDER BY id"), {"s": sender}
            ).all()
            if rows:
                found[sender] = [_json(row[0]) for row in rows]
    return found


def erase_broker(broker: Engine | None, conversations: set[str]) -> int:
    if broker is None or not conversations or not has_broker_table(broker):
        return 0
    with broker.begin() as connection:
        return sum(
            int(
                connection.execute(
                    text(f"DELETE FROM {BROKER_TABLE} WHERE sender_id = :s"), {"s": sender}
                ).rowcount
                or 0
            )
            for sender in sorted(conversations)
        )


def purge_broker(
    broker: Engine | None,
    emotion_cutoff: datetime,
    transcript_cutoff: datetime,
    scrub: Callable[[dict[str, Any]], bool],
) -> dict[str, int]:
    """Deletes broker rows older than the transcript period and ``scrub``s emotion data from rows
    older than the emotion period.  The table has no time column: each row's JSON is read, a page at a
    time.  Rows already ingested are the only ones worth keeping short; the consumer reads by id, so a
    deleted row it had not read yet is an event it never sees (retention is days, the lag seconds).
    """
    counts = {"broker_events_deleted": 0, "broker_events_scrubbed": 0}
    if not has_broker_table(broker):
        return counts
    assert broker is not None
    last = 0
    while True:
        with broker.begin() as connection:
            rows = connection.execute(
                text(f"SELECT id, data FROM {BROKER_TABLE} WHERE id > :last ORDER BY id LIMIT :n"),
                {"last": last, "n": PAGE},
            ).all()
            for row_id, data in rows:
                _purge_row(connection, int(row_id), data, emotion_cutoff, transcript_cutoff, scrub, counts)
        if len(rows) < PAGE:
            return counts
        last = int(rows[-1][0])


def _purge_row(
    connection: Any,
    row_id: int,
    data: str | None,
    emotion_cutoff: datetime,
    transcript_cutoff: datetime,
    scrub: Callable[[dict[str, Any]], bool],
    counts: dict[str, int],
) -> None:
    event = _json(data)
    moment = event.get("timestamp") if isinstance(event, dict) else None
    if not isinstance(moment, (int, float)) or isinstance(moment, bool):
        return  # not a Rasa event: left for a person to look at, never guessed at
    if moment < transcript_cutoff.timestamp():
        connection.execute(text(f"DELETE FROM {BROKER_TABLE} WHERE id = :i"), {"i": row_id})
        counts["broker_events_deleted"] += 1
    elif moment < emotion_cutoff.timestamp() and scrub(event):
        connection.execute(
            text(f"UPDATE {BROKER_TABLE} SET data = :d WHERE id = :i"), {"d": json.dumps(event), "i": row_id}
        )
        counts["broker_events_scrubbed"] += 1


def _json(data: str | None) -> Any:
    try:
        return json.loads(data or "null")
    except ValueError:
        return None
