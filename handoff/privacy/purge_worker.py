"""The handoff service's retention schedule: personal_data.py's ``purge``, a minute after start-up
and then every ATTUNE_PURGE_INTERVAL_SECONDS.
"""

import asyncio
import logging
from typing import Any

from sqlalchemy.engine import Engine

from handoff.core.db import create_engine_for
from handoff.privacy import personal_data

logger = logging.getLogger(__name__)


def retention_of(settings: Any) -> personal_data.Retention:
    return personal_data.Retention(
        settings.retention_emotion_days, settings.retention_transcript_days, settings.retention_audit_days
    )


def purge_once(engine: Engine, settings: Any) -> dict[str, int]:
    tracker = create_engine_for(settings.tracker_database_url) if settings.tracker_database_url else None
    broker = create_engine_for(settings.event_broker_url) if settings.event_broker_url else None
    try:
        return personal_data.purge(
            personal_data.Stores(engine, tracker, broker=broker), retention_of(settings)
        )
    finally:
        for extra in (tracker, broker):
            if extra is not None:
                extra.dispose()


FIRST_PASS_AFTER_SECONDS = 60.0  # not in the middle of start-up (migrations, first requests)


async def run_purges(engine: Engine, settings: Any) -> None:
    await asyncio.sleep(min(FIRST_PASS_AFTER_SECONDS, settings.purge_interval_seconds))
    while True:
        try:
            counts = await asyncio.to_thread(purge_once, engine, settings)
            logger.info("retention applied", extra={"counts": counts})
        except Exception:
            logger.exception("retention pass failed; will try again")
        await asyncio.sleep(settings.purge_interval_seconds)
