"""Each Twilio message is handled once: the ``MessageSid`` of every inbound webhook, kept durably.

Twilio signs a webhook over its URL and form, with no timestamp or nonce, so a captured request
stays valid forever: replayed, it was another customer message, answered by another SMS (issue 14).
Twilio itself sends a webhook again when the first attempt timed out.  Every inbound message has
its own ``MessageSid``; the SMS/WhatsApp channel (bot/components/twilio_channel.py) records it
before it handles the message, and a sid already recorded is not handled again.

- **Durable and shared**: the table ``twilio_inbound_messages`` (``message_sid`` primary key,
  ``received_at``) lives in the tracker store's database, ATTUNE_TRACKER_DATABASE_URL (SQLite or
  PostgreSQL; the launcher and deploy/systemd set it), so a restarted Rasa server remembers and two
  Rasa servers behind one load balancer agree: the insert is the check, and the database's
  primary key decides which of two simultaneous deliveries wins.
- **Recorded first**: a message whose handling then fails is not handled again when the same
  request comes back; the customer was told to send it again (bot/components/turn_guard.py), which
  is a new message with a new sid.  Twice is worse than once: a second SMS costs money and confuses.
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
from typing import Final

from sqlalchemy import Column, DateTime, MetaData, String, Table, create_engine, delete, insert, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

logger = logging.getLogger(__name__)

DATABASE_URL_VARIABLE: Final = "ATTUNE_TRACKER_DATABASE_URL"
DEFAULT_DATABASE_URL: Final = "sqlite:///var/tracker.db"  # the tracker store of endpoints.yml
DEFAULT_RETENTION: Final = timedelta(days=30)
PRUNE_EVERY_SECONDS: Final = 3600.0
MAX_SID_CHARS: Final = 64  # Twilio's are 34 ("SM" + 32 hex)

metadata = MetaData()
receipts = Table(
    "twilio_inbound_messages",
    metadata,
    Column("message_sid", String(MAX_SID_CHARS), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
)


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
    ) -> None:
        self.engine = engine
        self.retention = retention
        self._clock = clock
        self._ready = False
        self._lock = threading.Lock()  # creating the table and pruning, once at a time per process
        self._last_pruned = float("-inf")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "MessageReceipts":
        """On ATTUNE_TRACKER_DATABASE_URL; nothing is connected until the first message."""
        url = environ.get(DATABASE_URL_VARIABLE, "").strip() or DEFAULT_DATABASE_URL
        return cls(create_engine(url, pool_pre_ping=True, future=True))

    async def first_delivery(self, message_sid: str) -> bool:
        """Records ``message_sid``; False when it was recorded before. ReceiptsUnavailable on failure."""
        try:
            return await asyncio.to_thread(self._record, message_sid)
        except SQLAlchemyError as error:
            raise ReceiptsUnavailable(f"{type(error).__name__}: {error}") from error

    def _record(self, message_sid: str) -> bool:
        self._prepare()
        try:
            row = {"message_sid": message_sid, "received_at": self._clock()}
            with self.engine.begin() as connection:
                connection.execute(insert(receipts).values(**row))
        except IntegrityError:
            return False
        return True

    def _prepare(self) -> None:
        with self._lock:
            if not self._ready:
                self._create_table()
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

    def prune(self) -> int:
        """Deletes the sids older than the retention period; how many."""
        cutoff = self._clock() - self.retention
        with self.engine.begin() as connection:
            deleted = connection.execute(delete(receipts).where(receipts.c.received_at < cutoff)).rowcount
        if deleted:
            logger.info("forgot %d Twilio message id(s) received before %s", deleted, cutoff.isoformat())
        return int(deleted or 0)
