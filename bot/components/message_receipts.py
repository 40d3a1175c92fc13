"""Each Twilio message is handled once: the ``MessageSid`` of every inbound webhook, kept durably.

Twilio signs a webhook over its URL and form, with no timestamp or nonce, so a captured request
stays valid forever: replayed, it was another customer message, answered by another SMS (issue 14).
Twilio itself sends a webhook again when the first attempt failed or timed out.  Every inbound
message has its own ``MessageSid``; the SMS/WhatsApp channel (bot/components/twilio_channel.py)
claims it before it handles the message and marks it handled when the turn is over.

- **Durable and shared**: the table ``twilio_inbound_messages`` (``message_sid`` primary key,
  ``received_at``, ``handled_at``) lives in the tracker store's database,
  ATTUNE_TRACKER_DATABASE_URL (SQLite or PostgreSQL; the launcher and deploy/systemd set it), so a
  restarted Rasa server remembers and two Rasa servers behind one load balancer agree: the insert
  is the check, and the database's primary key decides which of two simultaneous deliveries wins.
- **Claimed, then handled**: a receipt is claimed (``received_at``) before the turn and marked
  handled (``handled_at``) after it, also when the turn failed: the customer was told to send it
  again (bot/components/turn_guard.py), which is a new message with a new sid.  A sid that was
  handled is never handled again: twice is worse than once, a second SMS costs money and confuses.
- **Unfinished is taken over once it is stale**: only a process that died mid-turn (kill -9, power
  loss) leaves a claim unhandled.  The same request coming back while the claim is younger than
  ``stale_after`` is refused as in flight (the first turn may still be running); once it is older,
  it is taken over with a conditional UPDATE that only one server can win, and handled, so the
  customer's message is not lost.
- **Upgraded in place**: a table made before ``handled_at`` existed gets the column on first use
  (ALTER TABLE, idempotent, safe when two servers race); its rows were all recorded under the old
  rule and are marked handled at once, so they stay refused.
- **Pruned**: sids older than ``retention`` (30 days by default) are deleted, at most once an hour;
  Twilio's own retries come within hours.  A request replayed after that is handled again: the
  signature cannot tell its age.
"""

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Final, Literal

from sqlalchemy import (
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

logger = logging.getLogger(__name__)

DATABASE_URL_VARIABLE: Final = "ATTUNE_TRACKER_DATABASE_URL"
DEFAULT_DATABASE_URL: Final = "sqlite:///var/tracker.db"  # the tracker store of endpoints.yml
DEFAULT_RETENTION: Final = timedelta(days=30)
PRUNE_EVERY_SECONDS: Final = 3600.0
MAX_SID_CHARS: Final = 64  # Twilio's are 34 ("SM" + 32 hex)
# How long a claimed, unhandled sid counts as a turn still running rather than one whose process died.
# Twilio waits at most 15 s for an answer (its read and total timeouts); when it hangs up, Sanic
# cancels the turn, which then counts as handled (twilio_channel.py).  So a live turn is never this
# old; the margin covers two servers' clocks that disagree and a slow database.  Shorter, a slow
# turn's retry could be handled twice; longer, a dead turn's message waits longer to be taken over.
DEFAULT_STALE_AFTER: Final = timedelta(seconds=120)

metadata = MetaData()
receipts = Table(
    "twilio_inbound_messages",
    metadata,
    Column("message_sid", String(MAX_SID_CHARS), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    # NULL while the turn runs; stays NULL only when the process died mid-turn.
    Column("handled_at", DateTime(timezone=True), nullable=True),
)

Claim = Literal["new", "taken_over", "handled", "in_flight"]
NEW: Final[Claim] = "new"  # never seen: handle it
TAKEN_OVER: Final[Claim] = "taken_over"  # its turn died and went stale: handle it
HANDLED: Final[Claim] = "handled"  # handled before: a replay or a retry, refuse it
IN_FLIGHT: Final[Claim] = "in_flight"  # claimed recently and not yet handled: refuse it
TO_HANDLE: Final[frozenset[Claim]] = frozenset({NEW, TAKEN_OVER})


class ReceiptsUnavailable(Exception):
    """The receipts' database could not be reached: whether the message is new is unknown."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


class MessageReceipts:
    """The ``MessageSid``s already received (see the module docstring)."""

    def __init__(
        self,
        engine: Engine,
        retention: timedelta = DEFAULT_RETENTION,
        clock: Callable[[], datetime] = _now,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
    ) -> None:
        self.engine = engine
        self.retention = retention
        self.stale_after = stale_after
        self._clock = clock
        self._ready = False
        self._lock = threading.Lock()  # preparing the table and pruning, once at a time per process
        self._last_pruned = float("-inf")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "MessageReceipts":
        """On ATTUNE_TRACKER_DATABASE_URL; nothing is connected until the first message."""
        url = environ.get(DATABASE_URL_VARIABLE, "").strip() or DEFAULT_DATABASE_URL
        return cls(create_engine(url, pool_pre_ping=True, future=True))

    async def claim(self, message_sid: str) -> Claim:
        """Claims ``message_sid`` for this turn: NEW or TAKEN_OVER to handle it, HANDLED or IN_FLIGHT to
        refuse it (see the module docstring).  ReceiptsUnavailable when the database fails.
        """
        try:
            return await asyncio.to_thread(self._claim, message_sid)
        except SQLAlchemyError as error:
            raise ReceiptsUnavailable(f"{type(error).__name__}: {error}") from error

    async def mark_handled(self, message_sid: str) -> None:
        """Records that the turn of ``message_sid`` is over.  ReceiptsUnavailable when the database fails."""
        try:
            await asyncio.to_thread(self._mark_handled, message_sid)
        except SQLAlchemyError as error:
            raise ReceiptsUnavailable(f"{type(error).__name__}: {error}") from error

    def _claim(self, message_sid: str) -> Claim:
        self._prepare()
        now = self._clock()
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    insert(receipts).values(message_sid=message_sid, received_at=now, handled_at=None)
                )
        except IntegrityError:
            with self.engine.begin() as connection:
                return self._claim_existing(connection, message_sid, now)
        return NEW

    def _claim_existing(self, connection: Connection, message_sid: str, now: datetime) -> Claim:
        this_sid = receipts.c.message_sid == message_sid
        # The row decides: of servers that all saw it stale, only one still finds it so when it updates.
        taken = connection.execute(
            update(receipts)
            .where(this_sid, receipts.c.handled_at.is_(None), receipts.c.received_at < now - self.stale_after)
            .values(received_at=now)
        ).rowcount
        if taken == 1:
            return TAKEN_OVER
        row = connection.execute(select(receipts.c.handled_at).where(this_sid)).first()
        # No row: pruned in between, so received a retention period ago; refused like any sid seen before.
        return IN_FLIGHT if row is not None and row.handled_at is None else HANDLED

    def _mark_handled(self, message_sid: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                update(receipts)
                .where(receipts.c.message_sid == message_sid, receipts.c.handled_at.is_(None))
                .values(handled_at=self._clock())
            )

    def _prepare(self) -> None:
        with self._lock:
            if not self._ready:
                self._create_table()
                self._add_handled_at()
                self._ready = True
            if time.monotonic() - self._last_pruned >= PRUNE_EVERY_SECONDS:
                self.prune()
                self._last_pruned = time.monotonic()

    def _create_table(self) -> None:
        try:
            metadata.create_all(self.engine, checkfirst=True)
        except SQLAlchemyError:
            # Another Rasa server created it between the check and the CREATE.
            with contextlib.suppress(SQLAlchemyError):
                if inspect(self.engine).has_table(receipts.name):
                    return
            raise

    def _add_handled_at(self) -> None:
        """Adds ``handled_at`` to a table made before it existed; its sids were all handled."""
        if self._has_handled_at():
            return
        column = receipts.c.handled_at
        column_type = column.type.compile(dialect=self.engine.dialect)
        # Only the rows from before this upgrade are old: SQLite commits the ALTER on its own, so
        # another server may already have claimed a new sid (handled_at NULL, in flight) before the
        # UPDATE below runs, and marking that one handled would refuse its redelivery for good.
        started = self._clock()
        try:
            # One transaction: on PostgreSQL the ALTER locks the table until the old rows are marked, so
            # no server sees them unhandled (and takes over a replay of one).
            with self.engine.begin() as connection:
                connection.exec_driver_sql(
                    f"ALTER TABLE {receipts.name} ADD COLUMN {column.name} {column_type} NULL"
                )
                connection.execute(
                    update(receipts)
                    .where(column.is_(None), receipts.c.received_at < started)
                    .values(handled_at=receipts.c.received_at)
                )
        except SQLAlchemyError:
            # Another Rasa server added it between the check and the ALTER (and marked the rows).
            with contextlib.suppress(SQLAlchemyError):
                if self._has_handled_at():
                    return
            raise
        logger.info("added %s.%s: the sids received before count as handled", receipts.name, column.name)

    def _has_handled_at(self) -> bool:
        columns = inspect(self.engine).get_columns(receipts.name)
        return any(column["name"] == receipts.c.handled_at.name for column in columns)

    def prune(self) -> int:
        """Deletes the sids older than the retention period; how many."""
        cutoff = self._clock() - self.retention
        with self.engine.begin() as connection:
            deleted = connection.execute(delete(receipts).where(receipts.c.received_at < cutoff)).rowcount
        if deleted:
            logger.info("forgot %d Twilio message id(s) received before %s", deleted, cutoff.isoformat())
        return int(deleted or 0)
