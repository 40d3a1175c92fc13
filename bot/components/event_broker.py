"""Rasa's SQL event broker with its writes taken off the event loop (issue 21, docs/analytics.md).

Rasa 3.6's ``SQLEventBroker.publish`` commits each event to the database on Rasa's event loop:
p95 1.5 ms an event, about 12 events a customer turn, so ~15 ms added to every message.  Here
``publish`` only serialises the event and appends it to an in-process queue; a writer thread
writes the queue to the same ``events`` table (Rasa's own ``SQLBrokerEvent`` table and engine,
so the analytics consumer reads it unchanged) in batches, one transaction each, in publish order.

What can go wrong, and what happens:

- **The database fails a batch** (down, locked, disk full): the batch stays at the head of the
  queue and is tried again, with a growing pause, for as long as the process lives.  Order is kept.
- **The database refuses a row** (``DataError``/``IntegrityError``: a sender id too long for
  PostgreSQL's ``VARCHAR(255)``...): the batch is written a row at a time and only the refused
  rows are dropped, counted (``dropped``) and logged, so one bad event cannot stop the rest.
- **The queue is full** (``max_queued`` events): the writer is behind.  If its last write
  succeeded, ``publish`` writes the whole queue and this event itself, in order, in one
  transaction: the customer pays for the write, as with Rasa's broker, and nothing is lost.  If
  the database is failing, that write could only wait for it (SQLite: 5 s a try) on the event
  loop, so the event is dropped, counted and logged instead; memory stays bounded.
- **Rasa stops**: ``close`` (Rasa calls it on shutdown) writes what is queued, waiting up to
  ``close_seconds``.  **Rasa dies** (``kill -9``, out of memory): what is still queued is lost
  from the broker; the tracker store has those events, and ``attune analytics backfill`` puts
  them into the analytics tables (docs/analytics.md).

endpoints.yml (the keys of ``type: SQL``: ``dialect``, ``url``, ``port``, ``db``, ``username``,
``password``; plus ``max_queued`` and ``batch_size``)::

    event_broker:
      type: bot.components.event_broker.QueuedSQLEventBroker
      dialect: sqlite
      db: var/events.db

``TimedPikaEventBroker`` (below) is Rasa's RabbitMQ broker with a timeout on each publish, so that
an event RabbitMQ does not confirm is held and resent rather than lost.
"""

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import threading
import time
from asyncio import AbstractEventLoop
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
import sqlalchemy.exc
from pamqp.commands import Basic
from rasa.core.brokers.pika import PikaEventBroker
from rasa.core.brokers.sql import SQLEventBroker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy.exc import DataError, IntegrityError

logger = logging.getLogger(__name__)

# ~12 events a turn at ~1-2 KB each: 10 000 events is ~800 turns and ~20 MB at most.
DEFAULT_MAX_QUEUED: Final = 10_000
DEFAULT_BATCH_SIZE: Final = 500
# Waiting a little for more events turns a turn's ~12 publishes into one commit, and keeps the
# writer thread (which needs the GIL) off the event loop's back; the lag goal is seconds.
LINGER_SECONDS: Final = 0.02
RETRY_SECONDS: Final = 0.1
MAX_RETRY_SECONDS: Final = 5.0
CLOSE_SECONDS: Final = 10.0
# The row errors that are about a row, not about the database being there.
_ROW_ERRORS: Final = (DataError, IntegrityError)


@dataclass(frozen=True)
class _Row:
    sender_id: str | None
    data: str


class QueuedSQLEventBroker(SQLEventBroker):
    """``SQLEventBroker`` whose ``publish`` queues and whose writer thread commits in batches."""

    def __init__(
        self,
        dialect: str = "sqlite",
        host: str | None = None,
        port: int | None = None,
        db: str = "events.db",
        username: str | None = None,
        password: str | None = None,
        max_queued: int = DEFAULT_MAX_QUEUED,
        batch_size: int = DEFAULT_BATCH_SIZE,
        retry_seconds: float = RETRY_SECONDS,
        linger_seconds: float = LINGER_SECONDS,
        close_seconds: float = CLOSE_SECONDS,
    ) -> None:
        if int(max_queued) < 1 or int(batch_size) < 1:
            raise ValueError("event_broker: max_queued and batch_size must be at least 1")
        try:
            super().__init__(dialect, host, port, db, username, password)
        except sqlalchemy.exc.OperationalError as error:
            # Two Rasa processes starting on one broker database race to create its table (SQLite:
            # "table events already exists"); the loser finds it made by the winner the second time.
            if "already exists" not in str(error):
                raise
            super().__init__(dialect, host, port, db, username, password)
        self.max_queued = int(max_queued)
        self.batch_size = int(batch_size)
        self.retry_seconds = float(retry_seconds)
        self.linger_seconds = float(linger_seconds)
        self.close_seconds = float(close_seconds)
        self.dropped = 0
        self._queue: collections.deque[_Row] = collections.deque()
        # Guards the queue (held for microseconds); `_write_lock` makes one writer at a time take
        # rows off the head, so the writer thread and a full-queue publish never reorder or repeat.
        self._changed = threading.Condition()
        self._write_lock = threading.Lock()
        self._failing = False
        self._stopping = False
        self._table = self.SQLBrokerEvent.__table__
        self._thread = threading.Thread(target=self._run, name="attune-event-broker", daemon=True)
        self._thread.start()

    @classmethod
    async def from_endpoint_config(
        cls, broker_config: EndpointConfig, event_loop: AbstractEventLoop | None = None
    ) -> "QueuedSQLEventBroker":
        return cls(host=broker_config.url, **broker_config.kwargs)

    @property
    def queued(self) -> int:
        with self._changed:
            return len(self._queue)

    def is_ready(self) -> bool:
        return self._thread.is_alive()

    def publish(self, event: dict[str, Any]) -> None:
        """Queues the event as Rasa's broker stores it (``json.dumps``): no database on the event loop,
        unless the queue is full.
        """
        try:
            row = _Row(_sender_of(event), json.dumps(event))
        except (TypeError, ValueError):
            self._drop(1, "it is not JSON")
            return
        with self._changed:
            if len(self._queue) < self.max_queued and not self._stopping:
                self._queue.append(row)
                self._changed.notify()
                return
        self._publish_when_full(row)

    async def close(self) -> None:
        """Writes what is queued (up to ``close_seconds``), then stops the writer."""
        with self._changed:
            self._stopping = True
            self._changed.notify()
        await asyncio.to_thread(self._thread.join, self.close_seconds)
        left = self.queued
        if left:
            logger.error("event broker closed with %d events unwritten; they are lost from the broker", left)
        self.engine.dispose()

    def _publish_when_full(self, row: _Row) -> None:
        if self._failing:
            self._drop(1, "the queue is full and the database is failing")
            return
        with self._write_lock:
            with self._changed:
                if len(self._queue) < self.max_queued and not self._stopping:
                    self._queue.append(row)  # the writer made room while we waited for it
                    self._changed.notify()
                    return
                pending = list(self._queue)
            try:
                self._write([*pending, row])
            except Exception:
                logger.exception("event broker: the full queue could not be written")
                self._drop(1, "the queue is full and the database is failing")
                return
            self._remove(len(pending))

    def _run(self) -> None:
        failures = 0
        while self._wait_for_events():
            with self._write_lock:
                # Taken under the lock: a full-queue publish may have written some meanwhile.
                batch = self._head()
                written = self._write_batch(batch) if batch else True
            failures = 0 if written else failures + 1
            self._failing = failures > 0
            if failures:
                self._pause(min(MAX_RETRY_SECONDS, self.retry_seconds * 2 ** (failures - 1)))

    def _wait_for_events(self) -> bool:
        """Waits for events (and a little longer for more); False once stopping and empty."""
        with self._changed:
            while not self._queue:
                if self._stopping:
                    return False
                self._changed.wait()
            # Not cut short by each publish's notify: only a full batch or a close ends it early.
            deadline = time.monotonic() + self.linger_seconds
            while len(self._queue) < self.batch_size and not self._stopping:
                if (left := deadline - time.monotonic()) <= 0:
                    break
                self._changed.wait(left)
        return True

    def _write_batch(self, batch: list[_Row]) -> bool:
        """Writes and removes the head batch; False (nothing removed) if the database failed."""
        try:
            try:
                self._write(batch)
            except _ROW_ERRORS:
                self._write_one_by_one(batch)
                return True
        except Exception:
            logger.exception("event broker: a batch of %d events failed; retrying", len(batch))
            return False
        self._remove(len(batch))
        return True

    def _head(self) -> list[_Row]:
        with self._changed:
            return list(itertools.islice(self._queue, self.batch_size))

    def _remove(self, count: int) -> None:
        with self._changed:
            for _ in range(count):
                self._queue.popleft()

    def _pause(self, seconds: float) -> None:
        """Waits before a retry; publishes and a close do not cut it short (no busy retries)."""
        deadline = time.monotonic() + seconds
        with self._changed:
            while (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)

    def _write(self, rows: list[_Row]) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                sa.insert(self._table), [{"sender_id": r.sender_id, "data": r.data} for r in rows]
            )

    def _write_one_by_one(self, batch: list[_Row]) -> None:
        """Isolates the rows the database refuses; a failing database stops it (retried later)."""
        for row in batch:
            try:
                self._write([row])
            except _ROW_ERRORS:
                logger.exception("event broker: the database refused an event of %r", row.sender_id)
                self._drop(1, "the database refused it")
            self._remove(1)

    def _drop(self, count: int, why: str) -> None:
        with self._changed:
            self.dropped += count
            dropped = self.dropped
        logger.error("event broker dropped an event because %s (%d dropped so far)", why, dropped)


def _sender_of(event: dict[str, Any]) -> str | None:
    sender = event.get("sender_id")
    return None if sender is None else str(sender)


# RabbitMQ: a confirm normally takes milliseconds; a publish caught by a broker's crash can wait forever.
DEFAULT_PUBLISH_TIMEOUT: Final = 5.0
# ~12 events a turn at ~1-2 KB each: 100 000 held events is ~8 000 turns and ~200 MB at most.
DEFAULT_MAX_UNPUBLISHED: Final = 100_000
DEFAULT_RESEND_SECONDS: Final = 1.0


class TimedPikaEventBroker(PikaEventBroker):
    """Rasa's ``PikaEventBroker`` whose publishes time out, so an event is either confirmed or held.

    Rasa 3.6 awaits ``exchange.publish`` with no timeout: when RabbitMQ is killed, about one publish
    in a dozen runs never returns, and its event is neither sent nor held, so it is lost.  Here:

    - each publish waits at most ``publish_timeout`` seconds for RabbitMQ's confirm (aio-pika opens
      Rasa's channel with publisher confirms; the messages are persistent and the queue durable, so
      a confirmed event is on RabbitMQ's disk).  A timeout, an error, a negative confirm or a message
      RabbitMQ returned unrouted holds the event in Rasa's deque for resending;
    - held events are resent on reconnect (Rasa's callback) and, in case no reconnect follows the
      failure, by a resender that every ``resend_seconds`` publishes the oldest held event and, once
      RabbitMQ confirms it, all the others;
    - at most ``max_unpublished`` events are held: beyond that the OLDEST is dropped, counted
      (``dropped``) and logged as an error.  The newest describe the conversations still going on,
      and the oldest are the ones a backfill from the tracker store recovers first.

    A publish that timed out after RabbitMQ had taken the message is sent twice; the analytics
    consumer's unique keys absorb the duplicate.  Resent events arrive out of order.
    """

    def __init__(
        self,
        host: str,
        username: str,
        password: str,
        publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT,
        max_unpublished: int = DEFAULT_MAX_UNPUBLISHED,
        resend_seconds: float = DEFAULT_RESEND_SECONDS,
        **kwargs: Any,
    ) -> None:
        if float(publish_timeout) <= 0 or float(resend_seconds) <= 0 or int(max_unpublished) < 1:
            raise ValueError(
                "event_broker: publish_timeout and resend_seconds must be positive, "
                "max_unpublished at least 1"
            )
        if kwargs.get("raise_on_failure") or kwargs.get("should_keep_unpublished_messages") is False:
            raise ValueError(
                "event_broker: TimedPikaEventBroker always holds and resends unpublished events; "
                "remove raise_on_failure and should_keep_unpublished_messages"
            )
        super().__init__(host, username, password, **kwargs)
        self.publish_timeout = float(publish_timeout)
        self.max_unpublished = int(max_unpublished)
        self.resend_seconds = float(resend_seconds)
        self.dropped = 0
        self.timed_out = 0
        self._resender: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        await super().connect()
        if self._resender is None:
            self._resender = self._loop.create_task(self._resend_forever())

    async def close(self) -> None:
        if self._resender is not None:
            self._resender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._resender
            self._resender = None
        if self._unpublished_events:
            logger.error(
                "event broker closed with %d events unpublished; they are lost from the broker",
                len(self._unpublished_events),
            )
        await super().close()

    async def _publish(self, event: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        await self._publish_or_hold(event, headers)

    async def _publish_or_hold(self, event: dict[str, Any], headers: dict[str, str] | None = None) -> bool:
        """True once RabbitMQ confirmed the event; otherwise it is held for resending."""
        exchange = self._exchange
        if exchange is None:
            self._hold(event, "RabbitMQ is not connected")
            return False
        try:
            confirmation = await asyncio.wait_for(
                exchange.publish(self._message(event, headers), ""), self.publish_timeout
            )
        except asyncio.TimeoutError:
            self.timed_out += 1
            self._hold(event, f"RabbitMQ did not confirm it within {self.publish_timeout:g} s")
            return False
        except Exception as error:
            self._hold(event, f"publishing failed ({type(error).__name__}: {error})")
            return False
        if not isinstance(confirmation, Basic.Ack):
            # None: a channel without confirms; a returned message: no queue is bound (yet).
            self._hold(event, f"RabbitMQ answered {type(confirmation).__name__}, not a confirm")
            return False
        return True

    def _hold(self, event: dict[str, Any], why: str) -> None:
        held = self._unpublished_events
        if not held:
            logger.warning(
                "event broker: an event was not published because %s; holding events to resend", why
            )
        if len(held) >= self.max_unpublished:
            held.popleft()
            self.dropped += 1
            logger.error(
                "event broker dropped the oldest held event: %d held (max_unpublished); %d dropped so far",
                len(held) + 1,
                self.dropped,
            )
        held.append(event)

    async def _resend_forever(self) -> None:
        while True:
            await asyncio.sleep(self.resend_seconds)
            try:
                await self._resend()
            except Exception:
                logger.exception("event broker: resending held events failed; trying again")

    async def _resend(self) -> None:
        """Publishes the oldest held event and, once RabbitMQ confirms it, all the others."""
        if not self._unpublished_events:
            return
        if await self._publish_or_hold(self._unpublished_events.popleft()):
            logger.info(
                "event broker: RabbitMQ confirms again; resending %d held events",
                len(self._unpublished_events),
            )
            self._publish_unpublished_messages()
