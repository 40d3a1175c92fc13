"""``POST /api/v1/csat``: a CSAT answer from the action server (bearer token, like /api/v1/audit).

201 when stored, 200 when the same answer was stored before (the action server's queue retries);
400 for a body that is not an answer, 409 for an answer id reused with another answer.
"""

import asyncio

from aiohttp import web

from handoff.core import inputs
from handoff.core.app_keys import ENGINE
from handoff.core.service_auth import authorise
from handoff.queue import csat


async def store_answer(request: web.Request) -> web.Response:
    authorise(request)  # before the body is read: nothing of a stranger's request is looked at
    answer = csat.parse_answer(await inputs.json_value(request))
    stored, created = await asyncio.to_thread(csat.store, request.app[ENGINE], answer)
    return web.json_response({**stored.to_dict(), "duplicate": not created}, status=201 if created else 200)
