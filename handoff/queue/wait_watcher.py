"""Telling customers honestly when the wait for a person runs long.

A background task (started by the app) looks for queued handoffs older than
ATTUNE_MAX_WAIT_SECONDS and sends each customer, once, ``utter_wait_too_long`` through Rasa: where
they are in the queue and what else they can do (keep waiting, e-mail the team, or carry on with
the bot).  A message that cannot be sent is tried again on the next pass; one that never can (a
conversation id from before ids named their channel) is logged and not tried again.
"""

import asyncio
import logging
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from handoff.core.rasa_client import RasaClient, RasaUnavailable, Undeliverable
from handoff.queue import handoffs

logger = logging.getLogger(__name__)

CHECK_SECONDS = 30.0


async def notify_overdue(
    engine: Engine, rasa: RasaClient, max_wait: timedelta, now: datetime | None = None
) -> int:
    """One pass; returns how many customers were told."""
    told = 0
    for handoff_id, conversation_id, position in await asyncio.to_thread(
        handoffs.overdue, engine, max_wait, now
    ):
        try:
            await rasa.say(conversation_id, "utter_wait_too_long", {"queue_position": str(position)})
        except Undeliverable as error:
            logger.warning(
                "a waiting customer cannot be told", extra={"handoff": handoff_id, "error": str(error)}
            )
            await asyncio.to_thread(handoffs.mark_wait_notice, engine, handoff_id, now)
            continue
        except RasaUnavailable as error:
            logger.warning(
                "could not tell a waiting customer", extra={"handoff": handoff_id, "error": str(error)}
            )
            continue
        await asyncio.to_thread(handoffs.mark_wait_notice, engine, handoff_id, now)
        told += 1
    return told


async def run_watcher(
    engine: Engine, rasa: RasaClient, max_wait: timedelta, every: float = CHECK_SECONDS
) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await notify_overdue(engine, rasa, max_wait)
        except Exception:
            logger.exception("wait watcher pass failed; will try again")
