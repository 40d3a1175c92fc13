"""The dashboard's typed app state."""

import asyncio

from aiohttp import web

# One roll-up refresh at a time in this process: concurrent page loads wait for it rather than
# recomputing the same days (across processes the refresh's row lock serialises them).
REFRESH_LOCK = web.AppKey("dashboard_refresh_lock", asyncio.Lock)
