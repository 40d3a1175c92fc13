"""The roll-up worker: recomputes today's and yesterday's dashboard roll-ups in the background.

A page load brings the roll-ups up to date first (handoff/analytics/rollups.py), and the open days
(today and yesterday, UTC) are recomputed once their roll-up is ``rollups.DEFAULT_TTL`` old: without
this worker, one page load a minute pays for that.  The worker recomputes them every
``analytics_rollup_seconds`` (less than the TTL, so a page never finds them old), together with the
days new rows fall on and the days erasure or retention marked stale.  It runs inside the handoff
service (a ``cleanup_ctx`` worker); ATTUNE_ANALYTICS_ROLLUP_SECONDS=0 turns it off.  Several
instances may run it: the refresh's row lock serialises them.  A failed pass is logged and the next
one tries again.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta, timezone

from aiohttp import web
from sqlalchemy.engine import Engine

from handoff.analytics import rollups
from handoff.core.app_keys import ENGINE, SETTINGS

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def refresh_open_days(engine: Engine, now: datetime) -> rollups.Refreshed:
    """Recomputes today and yesterday whatever their age (and every other stale day)."""
    today = now.astimezone(timezone.utc).date()
    return rollups.refresh(engine, today - timedelta(days=1), today, now, ttl=timedelta(0))


async def run(engine: Engine, interval_seconds: float, clock: Clock = _now) -> None:
    """One pass now, then one every ``interval_seconds``, until cancelled."""
    while True:
        try:
            await asyncio.to_thread(refresh_open_days, engine, clock())
        except Exception:
            logger.exception("roll-up refresh failed; trying again in %.0f s", interval_seconds)
        await asyncio.sleep(interval_seconds)


async def _worker(app: web.Application) -> AsyncIterator[None]:
    interval = app[SETTINGS].analytics_rollup_seconds
    if interval <= 0:
        yield
        return
    task = asyncio.create_task(run(app[ENGINE], interval))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def setup(app: web.Application) -> None:
    """Adds the worker to the service's background workers (after the database is open)."""
    app.cleanup_ctx.append(_worker)
