"""A durable queue of audit entries on their way to the handoff service, flushed in the background.

The same pattern as the handoff outbox (actions/outbox.py, actions/handoff_delivery.py), in its own
table of the same database, sent by a flusher that runs from the action server's start
(actions/server.py): an entry is written to disk first, and leaves only when the service
has confirmed it (then it is deleted here: the service holds the record, and a second copy of
someone's explanation would only be more data to protect).  While the service is down the oldest
entry is retried with backoff and the ones behind it wait, so the log keeps decision order.  An
entry the service refuses as malformed stays here as ``rejected`` with the reason.
"""

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine

from actions.background import Repeating
from actions.clients.audit import AuditClient, AuditRejected, AuditUnavailable
from actions.outbox import backoff
from actions.sql import open_engine

logger = logging.getLogger(__name__)

PENDING, REJECTED = "pending", "rejected"
FLUSH_INTERVAL_SECONDS = 1.0

metadata = MetaData()
queue_table = Table(
    "audit_queue",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # decision order
    Column("key", String(128), nullable=False, unique=True),
    Column("entry", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
)


@dataclass(frozen=True)
class QueuedEntry:
    key: str
    entry: dict[str, Any]
    attempts: int
    status: str
    last_error: str | None


@dataclass(frozen=True)
class AuditQueue:
    engine: Engine

    @classmethod
    def open(cls, database_url: str) -> "AuditQueue":
        engine = open_engine(database_url)
        metadata.create_all(engine)
        return cls(engine)

    def put_all(self, entries: list[dict[str, Any]], now: float | None = None) -> int:
        """Stores the entries whose keys are not here yet, in one transaction; returns how many."""
        moment = time.time() if now is None else now
        added = 0
        with self.engine.begin() as connection:
            for entry in entries:
                key = str(entry["key"])
                if connection.execute(select(queue_table.c.id).where(queue_table.c.key == key)).first():
                    continue
                connection.execute(
                    insert(queue_table).values(
                        key=key,
                        entry=json.dumps(entry, ensure_ascii=False),
                        status=PENDING,
                        attempts=0,
                        next_attempt_at=moment,
                        created_at=moment,
                    )
                )
                added += 1
        return added

    def due(self, now: float | None = None, limit: int = 50) -> list[QueuedEntry]:
        """The oldest pending entries, up to the first one still waiting for its retry time."""
        moment = time.time() if now is None else now
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(queue_table)
                .where(queue_table.c.status == PENDING)
                .order_by(queue_table.c.id)
                .limit(limit)
            ).all()
        ready = []
        for row in rows:
            if row.next_attempt_at > moment:
                break
            ready.append(_item(row))
        return ready

    def get(self, key: str) -> QueuedEntry | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(queue_table).where(queue_table.c.key == key)).first()
        return _item(row) if row is not None else None

    def pending_count(self) -> int:
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count()).select_from(queue_table).where(queue_table.c.status == PENDING)
                ).scalar_one()
            )

    def delivered(self, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(delete(queue_table).where(queue_table.c.key == key))

    def rejected(self, key: str, reason: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(queue_table).where(queue_table.c.key == key).values(status=REJECTED, last_error=reason)
            )

    def failed(self, key: str, error: str, now: float | None = None) -> None:
        moment = time.time() if now is None else now
        with self.engine.begin() as connection:
            row = connection.execute(
                select(queue_table.c.attempts).where(
                    queue_table.c.key == key, queue_table.c.status == PENDING
                )
            ).first()
            if row is None:
                return
            attempts = int(row.attempts) + 1
            connection.execute(
                update(queue_table)
                .where(queue_table.c.key == key)
                .values(attempts=attempts, last_error=error, next_attempt_at=moment + backoff(attempts))
            )


def _item(row: Any) -> QueuedEntry:
    return QueuedEntry(row.key, json.loads(row.entry), row.attempts, row.status, row.last_error)


async def flush_once(queue: AuditQueue, client: AuditClient, now: float | None = None) -> int:
    """One pass in decision order; stops at the first entry the service cannot take yet."""
    sent = 0
    for item in await asyncio.to_thread(queue.due, time.time() if now is None else now):
        try:
            await client.send(item.entry)
        except AuditRejected as error:
            await asyncio.to_thread(queue.rejected, item.key, str(error))
            logger.error("audit entry %s rejected by the service: %s", item.key, error)
            continue
        except AuditUnavailable as error:
            await asyncio.to_thread(queue.failed, item.key, str(error), now)
            logger.warning("audit entry %s not delivered yet: %s", item.key, error)
            break
        await asyncio.to_thread(queue.delivered, item.key)
        sent += 1
    return sent


class AuditFlusher(Repeating):
    """Sends queued entries every ``interval`` seconds, from the action server's start to its stop."""

    def __init__(
        self, queue: AuditQueue, client: AuditClient, interval: float = FLUSH_INTERVAL_SECONDS
    ) -> None:
        super().__init__(interval)
        self._queue = queue
        self._client = client

    @property
    def name(self) -> str:
        return "audit queue flusher"

    async def tick(self) -> None:
        await flush_once(self._queue, self._client)
