"""The handoff service's app factory: settings in, a ready ``web.Application`` out."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from handoff import webhooks
from handoff.db import create_engine_for
from handoff.keys import ENGINE, SETTINGS
from handoff.middleware import error_middleware
from handoff.migrate import upgrade_to_head
from handoff.settings import Settings
from handoff.views import handoffs, health


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # Migrating at start-up means a fresh SQLite file (or an empty Postgres) needs no manual step.
    await asyncio.to_thread(upgrade_to_head, settings.database_url)
    app[ENGINE] = create_engine_for(settings.database_url)
    yield
    app[ENGINE].dispose()


async def _webhook_worker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    task = None
    if settings.webhook_urls and settings.webhook_secret:
        task = asyncio.create_task(
            webhooks.run_worker(
                app[ENGINE],
                settings.webhook_secret,
                settings.webhook_max_attempts,
                settings.webhook_poll_seconds,
            )
        )
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[error_middleware], client_max_size=1024**2)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_webhook_worker)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_post("/api/v1/handoffs", handoffs.create_handoff)
    app.router.add_get("/api/v1/handoffs", handoffs.list_handoffs)
    app.router.add_get("/api/v1/handoffs/{handoff_id}", handoffs.get_handoff)
    return app
