"""The one place HTTP errors are shaped: every error leaves as ``{"error": code, "detail": ...}``, or, for
a browser asking for a page, as an HTML page with the same reason and a link back (core/error_pages.py).

And where every request is timed for ``attune_http_request_duration_seconds`` (handoff/core/metrics.py),
and every response gets the security headers (``security_headers``).
"""

import json
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from handoff.core.app_keys import METRICS
from handoff.core.error_pages import error_page
from handoff.core.metrics import UNMATCHED
from handoff.shared.errors import HandoffError, TooManyRequests

logger = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ResponseHook = Callable[[web.Request, web.StreamResponse], Awaitable[None]]

# What every page may load: only this service's own scripts, styles and images, in no frame, with
# forms posting only here.  A page that needs more (the web chat connects to the Rasa server) sets
# its own policy, which is kept.
DEFAULT_CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
HSTS = "max-age=31536000"


def error_body(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"error": code, "detail": detail}, status=status)


def _error(request: web.Request, status: int, code: str, detail: str) -> web.Response:
    page = error_page(request, status, code, detail)
    # ``is None``, not ``or``: a response is a mapping, and an empty one is falsy.
    return error_body(status, code, detail) if page is None else page


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HandoffError as error:
        response = _error(request, error.status, error.code, error.detail)
        if isinstance(error, TooManyRequests):
            response.headers["Retry-After"] = str(error.retry_after)
        return response
    except json.JSONDecodeError as error:
        detail = f"request body is not valid JSON: {error.msg} at {error.pos}"
        return _error(request, 400, "invalid_json", detail)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = error.reason.lower().replace(" ", "_")
        return _error(request, error.status, code, error.text or error.reason)
    except Exception:
        logger.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return _error(request, 500, "internal_error", "something went wrong on our side; it has been logged")


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


def security_headers(https: bool) -> ResponseHook:
    """An ``on_response_prepare`` hook: every response leaves with nosniff, no Referer, a CSP (unless
    the view set one), no framing, and over https HSTS.  A hook rather than a middleware, so it also
    reaches what no middleware returns: static files, redirects raised as exceptions, aiohttp's
    own errors.
    """

    async def add(_request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "no-referrer"
        headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        if https:
            headers["Strict-Transport-Security"] = HSTS

    return add
