"""GET /metrics: the service's Prometheus metrics (handoff/core/metrics.py), in the text format.

Open to anyone who can reach the service, like /healthz: the metrics hold counts and timings
labelled by reason, priority, call status and route pattern, never personal data, and Prometheus
scrapes without a login.  Where the service is reachable from outside (``/twilio/*`` for Twilio),
expose only those paths and keep /metrics on the internal network.
"""

import asyncio

from aiohttp import web

from handoff.core.app_keys import METRICS
from handoff.core.metrics import CONTENT_TYPE


async def metrics(request: web.Request) -> web.Response:
    # In a thread: the queue depth is read from the database while the exposition is written.
    body = await asyncio.to_thread(request.app[METRICS].exposition)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
