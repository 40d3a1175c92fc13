"""The analytics consumer: follows Rasa's SQL event broker table by id and ingests each batch.

It runs inside the handoff service (``setup``, a ``cleanup_ctx`` worker; ATTUNE_ANALYTICS_CONSUMER=0
turns it off there) or as its own process (``python -m handoff.analytics``); run one of them per
broker.  A failed batch is logged and tried again after a pause: the cursor did not move, so nothing
is lost, and the unique keys make the retry add nothing twice.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from handoff.analytics.ingest import BatchResult, ingest, position, read_batch
from handoff.core.app_keys import ENGINE, SETTINGS
from handoff.core.db import create_engine_for

logger = logging.getLogger(__name__)

BATCH_SIZE: Final = 500
# How long to wait when the broker has nothing new (the lag goal is seconds, not milliseconds).
IDLE_SECONDS: Final = 0.5
RETRY_SECONDS: Final = 5.0


@dataclass(frozen=True)
class Consumer:
    analytics: Engine
    broker: Engine
    batch_size: int = BATCH_SIZE
    idle_seconds: float = IDLE_SECONDS


def broker_engine(url: str) -> Engine:
    """An engine on the broker's database.  SQLite: Rasa writes the file while we read it, so wait
    for its lock (not the 5 s default), and ask once for WAL (readers then never block Rasa's commit,
    which runs on its event loop: docs/analytics.md); if Rasa holds the lock, the next start asks again.
    """
    if not url.startswith("sqlite"):
        return create_engine_for(url)
    engine = create_engine(url, future=True, connect_args={"timeout": 30, "check_same_thread": False})
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA journal_mode = WAL")
    except OperationalError:
        logger.warning("could not switch the broker's SQLite file to WAL; reading it as it is")
    return engine


def drain_once(consumer: Consumer) -> BatchResult:
    """Reads and ingests the next batch after the cursor."""
    rows = read_batch(consumer.broker, position(consumer.analytics), consumer.batch_size)
    return ingest(consumer.analytics, rows) if rows else BatchResult(position=None)


def drain(consumer: Consumer) -> int:
    """Ingests everything the broker holds now; the number of broker rows read."""
    total = 0
    while True:
        result = drain_once(consumer)
        total += result.read
        if result.read == 0:
            return total


async def run(consumer: Consumer) -> None:
    """Follows the broker until cancelled."""
    while True:
        try:
            result = await asyncio.to_thread(drain_once, consumer)
        except Exception:
            logger.exception("analytics batch failed; retrying in %.0f s", RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)
            continue
        if result.read < consumer.batch_size:
            await asyncio.sleep(consumer.idle_seconds)


async def _worker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.event_broker_url is None or not settings.analytics_consumer:
        yield
        return
    broker = broker_engine(settings.event_broker_url)
    task = asyncio.create_task(run(Consumer(app[ENGINE], broker)))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    broker.dispose()


def setup(app: web.Application) -> None:
    """Adds the consumer to the service's background workers (after the database is open)."""
    app.cleanup_ctx.append(_worker)
