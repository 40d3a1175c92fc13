"""The analytics consumer of RabbitMQ: reads the queue Rasa's Pika event broker publishes to.

Rasa 3.6's ``PikaEventBroker`` (shipped as its subclass with a publish timeout, endpoints.yml
``type: bot.components.event_broker.TimedPikaEventBroker``) declares a fanout exchange,
``rasa-exchange`` (not durable), binds durable queues to it (``queues:``, default
``rasa_core_events``) and publishes each event as a persistent message whose body is the JSON the
SQL broker stores in its ``data`` column.  This consumer declares the same exchange, queue and
binding, so events published before it first runs wait in the queue.

Delivery is at least once and the rows exactly once: up to ``batch_size`` messages are in flight
(the prefetch), a batch is ingested in one transaction, and only after that committed are its
messages acknowledged (one ``ack`` with ``multiple``).  Killed in between, RabbitMQ delivers them
again and the unique keys add nothing twice (``ingest(..., source=None)``).  When RabbitMQ goes away
or the database fails, the connection is dropped (RabbitMQ requeues what was not acknowledged) and
opened again after a pause that doubles up to ``MAX_BACKOFF_SECONDS``.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from aiohttp import web
from sqlalchemy.engine import Engine

from handoff.analytics.ingest import BatchResult, BrokerRow, ingest
from handoff.core.app_keys import ENGINE, SETTINGS

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Rasa's names (rasa/core/brokers/pika.py RABBITMQ_EXCHANGE, DEFAULT_QUEUE_NAME).
RASA_EXCHANGE: Final = "rasa-exchange"
DEFAULT_QUEUE: Final = "rasa_core_events"
BATCH_SIZE: Final = 500
# How long a batch waits to fill once its first message is in (the lag goal is seconds).
LINGER_SECONDS: Final = 0.05
CONNECT_TIMEOUT_SECONDS: Final = 10.0
ACK_TIMEOUT_SECONDS: Final = 10.0
# `--once` stops when the queue has given nothing for this long.
DRAIN_IDLE_SECONDS: Final = 1.0
CLOSE_TIMEOUT_SECONDS: Final = 5.0
MIN_BACKOFF_SECONDS: Final = 0.5
MAX_BACKOFF_SECONDS: Final = 5.0


class ConnectionLost(ConnectionError):
    """RabbitMQ closed the connection or the channel while we waited for messages."""


@dataclass(frozen=True)
class PikaConsumer:
    analytics: Engine
    url: str
    queue: str = DEFAULT_QUEUE
    exchange: str = RASA_EXCHANGE
    batch_size: int = BATCH_SIZE
    linger_seconds: float = LINGER_SECONDS


async def run(consumer: PikaConsumer) -> None:
    """Consumes until cancelled, reconnecting with a doubling backoff."""
    backoff = MIN_BACKOFF_SECONDS
    while True:
        try:
            async for _ in _consume(consumer):
                backoff = MIN_BACKOFF_SECONDS
        except Exception as error:  # any failure: drop the connection, try again
            logger.warning("RabbitMQ consumer: %s; reconnecting in %.1f s", _describe(error), backoff)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


async def drain(consumer: PikaConsumer) -> int:
    """Ingests what the queue holds now (``python -m handoff.analytics --once``): reads until no
    message has come for DRAIN_IDLE_SECONDS; the messages read.
    """
    total = 0
    async for result in _consume(consumer, idle=DRAIN_IDLE_SECONDS):
        total += result.read
    return total


async def _consume(consumer: PikaConsumer, idle: float | None = None) -> AsyncIterator[BatchResult]:
    """One connection's life: yields after each committed and acknowledged batch; with ``idle``,
    ends when no message has come for that many seconds.
    """
    connection = await aio_pika.connect(consumer.url, timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        connection.close_callbacks.add(lambda *_: _set(lost))
        channel = await connection.channel(publisher_confirms=False)
        channel.close_callbacks.add(lambda *_: _set(lost))
        await channel.set_qos(prefetch_count=consumer.batch_size)
        queue = await _declare(channel, consumer)
        inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        await queue.consume(inbox.put)
        logger.info("RabbitMQ consumer: reading queue %r", consumer.queue)
        while batch := await _next_batch(inbox, lost, consumer, idle):
            yield await _ingest_and_ack(consumer, batch, lost)
    finally:
        # Closing a connection whose peer died can wait forever: bounded, and its errors are moot.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.close(), CLOSE_TIMEOUT_SECONDS)


async def _declare(channel: AbstractChannel, consumer: PikaConsumer) -> AbstractQueue:
    """The exchange, queue and binding exactly as Rasa declares them (a mismatch is refused)."""
    exchange = await channel.declare_exchange(consumer.exchange, type=aio_pika.ExchangeType.FANOUT)
    queue = await channel.declare_queue(consumer.queue, durable=True)
    await queue.bind(exchange, "")
    return queue


async def _next_batch(
    inbox: "asyncio.Queue[AbstractIncomingMessage]",
    lost: "asyncio.Future[None]",
    consumer: PikaConsumer,
    idle: float | None,
) -> list[AbstractIncomingMessage]:
    """Waits for the first message (or the connection's end), then takes what arrives soon after;
    none if nothing came for ``idle`` seconds.
    """
    try:
        batch = [await _unless_lost(inbox.get(), lost, timeout=idle)]
    except asyncio.TimeoutError:
        return []
    if consumer.linger_seconds > 0 and inbox.qsize() < consumer.batch_size - 1:
        await asyncio.sleep(consumer.linger_seconds)
    while len(batch) < consumer.batch_size and not inbox.empty():
        batch.append(inbox.get_nowait())
    return batch


async def _ingest_and_ack(
    consumer: PikaConsumer,
    batch: Sequence[AbstractIncomingMessage],
    lost: "asyncio.Future[None]",
) -> BatchResult:
    rows = [BrokerRow(None, message.body.decode("utf-8", errors="replace")) for message in batch]
    result = await asyncio.to_thread(ingest, consumer.analytics, rows, None)
    # Committed: now RabbitMQ may forget them (one ack covers the batch, in delivery order).  An ack
    # that cannot be sent (an ack on a connection that just died can wait forever) fails the
    # connection; RabbitMQ then delivers the batch again.
    await _unless_lost(batch[-1].ack(multiple=True), lost, timeout=ACK_TIMEOUT_SECONDS)
    return result


async def _unless_lost(awaitable: Awaitable[T], lost: "asyncio.Future[None]", timeout: float | None) -> T:
    """``awaitable``'s result, unless the connection ends first (ConnectionLost) or time runs out."""
    task = asyncio.ensure_future(awaitable)
    waiting: set[asyncio.Future[Any]] = {task, lost}
    try:
        await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
    if task.done() and not task.cancelled():
        return task.result()
    if lost.done():
        raise ConnectionLost("RabbitMQ closed the connection")
    raise asyncio.TimeoutError(f"no answer from RabbitMQ within {timeout} s")


def _set(future: "asyncio.Future[None]") -> None:
    if not future.done():
        future.set_result(None)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


async def _worker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.rabbitmq_url is None or not settings.analytics_consumer:
        yield
        return
    consumer = PikaConsumer(app[ENGINE], settings.rabbitmq_url, settings.rabbitmq_queue)
    task: asyncio.Task[Any] = asyncio.create_task(run(consumer))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def setup(app: web.Application) -> None:
    """Adds the RabbitMQ consumer to the service's background workers (with ATTUNE_RABBITMQ_URL)."""
    app.cleanup_ctx.append(_worker)
