"""Backfill: the events the broker lost, read again from Rasa's tracker store (docs/analytics.md).

When Rasa dies (``kill -9``, out of memory) the events still queued in ``QueuedSQLEventBroker``
never reach the broker's table; the tracker store has them, because Rasa stores every event it
publishes.  This reads the tracker store's events since a moment and ingests them through the same
``ingest`` as the consumer, so what the broker did deliver adds nothing and a second backfill adds
nothing either.

That works because both copies are the same JSON.  For each new event Rasa publishes
``json.dumps({"sender_id": sender, **event.as_dict()})`` (``TrackerStore._stream_new_events``) and
stores ``json.dumps(event.as_dict())`` in the tracker store's ``events.data``, from the same event
objects, after the same slimming (``GuardedSQLTrackerStore.save``).  ``published_form`` puts the
sender back in front; a JSON round trip keeps key order, floats (``repr``) and escapes, so the text
and its ``event_key`` are the broker's own (tests/faults/test_broker_killed_backfill.py checks it on
real Rasa events, byte for byte).

Limits: an event the retention purge has scrubbed since (emotion slots set to null) no longer has
the text the broker had; its fact is gone from the scrubbed copy, so it adds no row either.  A
conversation erased from the tracker store is not brought back.
"""

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from handoff.analytics import events
from handoff.analytics.ingest import BROKER_TABLE, BrokerRow, ingest

# Rasa's SQL tracker store keeps one row per event in ``events`` (rasa/core/tracker_store.py
# ``SQLTrackerStore.SQLEvent``: id, sender_id, type_name, timestamp, intent_name, action_name, data).
TRACKER_TABLE: Final = "events"
PAGE_SIZE: Final = 1000
# How much earlier than the broker's last event a lost event can be: Rasa publishes a turn's events
# when it saves the tracker, at the end of the turn, and one turn waits at most ~15 s for actions
# (ATTUNE_ACTION_RETRY_SECONDS); other conversations' turns interleave.  Generous: a wider window
# only costs reading more.
BROKER_MARGIN: Final = timedelta(minutes=10)


@dataclass
class BackfillResult:
    read: int = 0
    # Fact rows that were missing (0 when the broker had delivered everything).
    inserted: int = 0
    # Tracker rows that are not a usable event (broken JSON, an absurd timestamp...).
    skipped: int = 0
    # Events of conversations erased after they happened (analytics_erased): never ingested again.
    erased: int = 0
    conversations: set[str] = field(default_factory=set)


def published_form(sender_id: str, stored: str | None) -> str:
    """The JSON text Rasa published for an event it stored as ``stored`` ("" when it is not an object)."""
    try:
        event = json.loads(stored or "")
    except (ValueError, RecursionError):
        return ""
    if not isinstance(event, dict):
        return ""
    body = {"sender_id": sender_id}
    body.update(event)  # as Rasa builds it: the sender first, then the event's own keys in order
    return json.dumps(body)


def after_last_broker_event(broker: Engine) -> datetime | None:
    """Where the broker's table stops, less ``BROKER_MARGIN``: what Rasa still held in its queue
    when it died came after it (the broker writes in publish order).  None when the table is empty.
    """
    if not inspect(broker).has_table(BROKER_TABLE):
        return None
    with broker.connect() as connection:
        data = connection.execute(text(f"SELECT data FROM {BROKER_TABLE} ORDER BY id DESC LIMIT 1")).scalar()
    parsed = events.parse(str(data or ""))
    return None if parsed is None else parsed.at - BROKER_MARGIN


def read_page(tracker: Engine, since: float, after: int, limit: int) -> list[tuple[int, str, str | None]]:
    """The tracker store's next ``limit`` events after row ``after`` that happened at or after ``since``."""
    with tracker.connect() as connection:
        rows = connection.execute(
            text(
                f"SELECT id, sender_id, data FROM {TRACKER_TABLE} "
                "WHERE id > :after AND timestamp >= :since ORDER BY id LIMIT :limit"
            ),
            {"after": after, "since": since, "limit": limit},
        ).all()
    return [(int(row[0]), str(row[1]), row[2]) for row in rows]


def backfill(
    analytics: Engine, tracker: Engine, since: datetime, page_size: int = PAGE_SIZE
) -> BackfillResult:
    """Ingests the tracker store's events from ``since`` on, in the order Rasa stored them.

    No cursor moves: the consumer's position in the broker's table is its own.  Each page is one
    transaction, so a backfill stopped half-way is simply run again.
    """
    result = BackfillResult()
    if not inspect(tracker).has_table(TRACKER_TABLE):
        return result
    after = 0
    while page := read_page(tracker, since.timestamp(), after, page_size):
        rows = [BrokerRow(None, published_form(sender, data)) for _, sender, data in page]
        batch = ingest(analytics, rows, source=None)
        result.read += batch.read
        result.inserted += batch.inserted
        result.skipped += batch.skipped
        result.erased += batch.erased
        result.conversations.update(sender for _, sender, _ in page)
        after = page[-1][0]
    return result
