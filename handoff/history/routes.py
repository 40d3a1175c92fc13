"""Customer history, search and the resolved list (console pages), and the search rows' indexer."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web

from handoff.core.app_keys import ENGINE
from handoff.history import search_index, views

# How often the background indexer looks for new or changed handoffs once it has caught up.
INDEX_INTERVAL_SECONDS: Final = 5.0


async def _indexer(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(search_index.run_indexer(app[ENGINE], INDEX_INTERVAL_SECONDS))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def setup_routes(app: web.Application) -> None:
    # After the app factory's database context: the indexer needs the engine it builds.
    app.cleanup_ctx.append(_indexer)
    router = app.router
    router.add_get("/console/search", views.search_page, name="history.search")
    router.add_get("/console/resolved", views.resolved_page, name="history.resolved")
    router.add_get("/console/handoffs/{handoff_id}/history", views.history_page, name="history.customer")
