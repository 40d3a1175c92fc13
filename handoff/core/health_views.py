"""GET /healthz: is the service up and can it reach its database."""

import asyncio
import logging

from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import Engine

from handoff.core.app_keys import ENGINE

logger = logging.getLogger(__name__)


def _ping(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def healthz(request: web.Request) -> web.Response:
    try:
        await asyncio.to_thread(_ping, request.app[ENGINE])
    except Exception as error:
        logger.warning("database health check failed", extra={"error": str(error)})
        return web.json_response({"status": "degraded", "database": "error"}, status=503)
    return web.json_response({"status": "ok", "database": "ok"})
