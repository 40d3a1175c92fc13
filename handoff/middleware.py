"""The one place HTTP errors are shaped: every error leaves as ``{"error": code, "detail": ...}``.

And where every request is timed for ``attune_http_request_duration_seconds`` (handoff/metrics.py).
"""

import json
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from handoff.errors import HandoffError, TooManyRequests
from handoff.keys import METRICS
from handoff.metrics import UNMATCHED

logger = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_body(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HandoffError as error:
        response = error_body(error.status, error.code, error.detail)
        if isinstance(error, TooManyRequests):
            response.headers["Retry-After"] = str(error.retry_after)
        return response
    except json.JSONDecodeError as error:
        return error_body(400, "invalid_json", f"request body is not valid JSON: {error.msg} at {error.pos}")
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = error.reason.lower().replace(" ", "_")
        return error_body(error.status, code, error.text or error.reason)
    except Exception:
        logger.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return error_body(500, "internal_error", "something went wrong on our side; it has been logged")


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outside error_middleware, so it sees the status the client gets; labelled by route pattern."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:  # redirects, which error_middleware lets through
        status = error.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else UNMATCHED
        request.app[METRICS].request(request.method, route, status, time.perf_counter() - started)
