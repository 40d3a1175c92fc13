"""One durable queue for what the action server owes the handoff service, in one SQLAlchemy style (Core).

An item is written to disk before its first delivery attempt and leaves the pending list only when
the service has confirmed it.  The operations are the same for every queue:

- ``put`` / ``put_all``: enqueue, unless an item with the same key is stored already (idempotent);
- ``due``: claim what is due, oldest first;
- ``delivered``: the service holds it (the body is dropped: a second copy of a transcript or of
  someone's explanation would only be more personal data to govern);
- ``failed``: not delivered yet; tried again after ``handoff/shared/backoff.py``'s delay;
- ``rejected``: the dead letter: the service refused the content for good, kept with the reason for
  someone to look at.

Each queue keeps the table it always had (existing databases keep working), described by a
``Layout``: the handoff outbox (actions/outbox.py) and the audit queue (actions/audit_queue.py).
Sending is actions/queue_flusher.py's job.
"""

import json
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal, TypeVar, get_args

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
from sqlalchemy.engine import Connection, Engine

from actions.sql import open_engine
from handoff.shared.backoff import backoff

# An item waits (and is retried), was confirmed by the service, or was refused for good (dead letter).
ItemStatus = Literal["pending", "delivered", "rejected"]
PENDING: Final[ItemStatus] = "pending"
DELIVERED: Final[ItemStatus] = "delivered"
REJECTED: Final[ItemStatus] = "rejected"
ITEM_STATUSES: Final[tuple[ItemStatus, ...]] = get_args(ItemStatus)

FIRST_BACKOFF_SECONDS = 2.0
# Low enough that a saved item arrives within ~10 s of the service's return (issue 12: 30 s for a
# handoff), high enough that a down service sees a handful of calls a minute, not a stream.
MAX_BACKOFF_SECONDS = 10.0


@dataclass(frozen=True)
class Layout:
    """Where a queue lives and how it behaves; the columns are those of ``table``."""

    table: Table
    # The column holding the item's key, and the body field it is read from when enqueued.
    key: str
    # The column holding the JSON body.
    body: str
    # The column that orders items (oldest first).
    order: str
    # True: a pass takes the oldest items only up to the first one still waiting for its retry
    # time, so they arrive in order (the audit log keeps decision order).  False: each due item is
    # taken on its own schedule.
    in_order: bool
    # None: a delivered item is deleted.  A column name: the row stays as a receipt (key, status and
    # this time), its body emptied.
    delivered_at: str | None = None

    def column(self, name: str) -> Column[Any]:
        return self.table.c[name]


def id_ordered_table(name: str, metadata: MetaData, key: str, body: str) -> Table:
    """The table of a queue whose items keep the order they were added in (an autoincrement id)
    and are deleted once delivered: the audit queue and the CSAT queue.  ``key`` is unique, so an
    item enqueued twice (an action retried) is stored once.
    """
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column(key, String(128), nullable=False, unique=True),
        Column(body, Text, nullable=False),
        Column("status", String(16), nullable=False, index=True),
        Column("attempts", Integer, nullable=False),
        Column("next_attempt_at", Float, nullable=False),
        Column("last_error", Text, nullable=True),
        Column("created_at", Float, nullable=False),
    )


@dataclass(frozen=True)
class QueueItem:
    key: str
    body: dict[str, Any]
    attempts: int
    status: ItemStatus
    last_error: str | None


Q = TypeVar("Q", bound="DurableQueue")


@dataclass(frozen=True)
class DurableQueue:
    """A queue in ``engine``'s database, laid out as the subclass's ``LAYOUT`` says."""

    LAYOUT: ClassVar[Layout]
    engine: Engine

    @classmethod
    def open(cls: type[Q], database_url: str) -> Q:
        """The queue in ``database_url``, its table created if it is not there yet."""
        engine = open_engine(database_url)
        cls.LAYOUT.table.metadata.create_all(engine, tables=[cls.LAYOUT.table])
        return cls(engine)

    def put(self, body: dict[str, Any], now: float | None = None) -> QueueItem:
        """Stores ``body`` unless its key is already here; returns the stored item (old or new)."""
        with self.engine.begin() as connection:
            key, _added = self._insert_new(connection, body, _now(now))
            item = self._read(connection, key)
        assert item is not None  # written in this very transaction
        return item

    def put_all(self, bodies: list[dict[str, Any]], now: float | None = None) -> int:
        """Stores the bodies whose keys are not here yet, in one transaction; returns how many."""
        moment = _now(now)
        with self.engine.begin() as connection:
            return sum(self._insert_new(connection, body, moment)[1] for body in bodies)

    def get(self, key: str) -> QueueItem | None:
        with self.engine.connect() as connection:
            return self._read(connection, key)

    def due(self, now: float | None = None, limit: int = 50) -> list[QueueItem]:
        """Pending items whose time has come, oldest first (in order: up to the first still waiting)."""
        layout, moment = self.LAYOUT, _now(now)
        query = select(layout.table).where(layout.column("status") == PENDING)
        if not layout.in_order:
            query = query.where(layout.column("next_attempt_at") <= moment)
        with self.engine.connect() as connection:
            rows = connection.execute(query.order_by(layout.column(layout.order)).limit(limit)).all()
        ready = []
        for row in rows:
            if row.next_attempt_at > moment:
                break  # only reachable in order: the ones behind it wait their turn
            ready.append(self._item(row))
        return ready

    def pending_count(self) -> int:
        layout = self.LAYOUT
        with self.engine.connect() as connection:
            return int(
                connection.execute(
                    select(func.count()).select_from(layout.table).where(layout.column("status") == PENDING)
                ).scalar_one()
            )

    def delivered(self, key: str, now: float | None = None) -> None:
        """The service confirmed it: the row goes, or stays as a receipt without its body."""
        layout = self.LAYOUT
        where = layout.column(layout.key) == key
        with self.engine.begin() as connection:
            if layout.delivered_at is None:
                connection.execute(delete(layout.table).where(where))
                return
            connection.execute(
                update(layout.table)
                .where(where)
                .values(
                    {
                        "status": DELIVERED,
                        layout.delivered_at: _now(now),
                        "last_error": None,
                        layout.body: "{}",
                    }
                )
            )

    def rejected(self, key: str, reason: str) -> None:
        """The dead letter: refused for good, kept with the reason and never sent again."""
        layout = self.LAYOUT
        with self.engine.begin() as connection:
            connection.execute(
                update(layout.table)
                .where(layout.column(layout.key) == key)
                .values(status=REJECTED, last_error=reason)
            )

    def failed(self, key: str, error: str, now: float | None = None) -> None:
        """Not delivered yet: one more attempt counted, the next one after the backoff."""
        layout, moment = self.LAYOUT, _now(now)
        where = (layout.column(layout.key) == key) & (layout.column("status") == PENDING)
        with self.engine.begin() as connection:
            row = connection.execute(select(layout.column("attempts")).where(where)).first()
            if row is None:
                return  # delivered or rejected meanwhile (another process): nothing to retry
            attempts = int(row.attempts) + 1
            delay = backoff(attempts, FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS)
            connection.execute(
                update(layout.table)
                .where(where)
                .values(attempts=attempts, last_error=error, next_attempt_at=moment + delay)
            )

    def _insert_new(self, connection: Connection, body: dict[str, Any], moment: float) -> tuple[str, bool]:
        """Inserts ``body`` unless its key is stored; returns the key and whether it was new."""
        layout = self.LAYOUT
        key = str(body[layout.key])
        if self._read(connection, key) is not None:
            return key, False
        connection.execute(
            insert(layout.table).values(
                {
                    layout.key: key,
                    layout.body: json.dumps(body, ensure_ascii=False),
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": moment,
                    "created_at": moment,
                }
            )
        )
        return key, True

    def _read(self, connection: Connection, key: str) -> QueueItem | None:
        layout = self.LAYOUT
        row = connection.execute(select(layout.table).where(layout.column(layout.key) == key)).first()
        return self._item(row) if row is not None else None

    def _item(self, row: Any) -> QueueItem:
        mapping = row._mapping
        layout = self.LAYOUT
        return QueueItem(
            str(mapping[layout.key]),
            json.loads(mapping[layout.body]),
            int(mapping["attempts"]),
            _item_status(mapping["status"]),
            mapping["last_error"],
        )


def _item_status(value: object) -> ItemStatus:
    """A stored status, checked: only this module writes the column, with the constants above."""
    for status in ITEM_STATUSES:
        if value == status:
            return status
    raise ValueError(f"unknown queue item status {value!r}")


def _now(now: float | None) -> float:
    return time.time() if now is None else now
