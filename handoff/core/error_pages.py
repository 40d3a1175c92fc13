"""Errors as a page for a person in a browser, as ``{"error", "detail"}`` JSON for everything else.

A browser navigating to a page asks for ``text/html`` first; ``fetch``, ``EventSource`` and API
clients ask for JSON, ``*/*`` or an event stream, and keep the JSON body the API documents.  The
page says what went wrong, in the same words as the JSON detail, and links back to the console.
"""

import logging
from http import HTTPStatus

from aiohttp import web

from handoff.core.app_keys import TEMPLATES

logger = logging.getLogger(__name__)
HTML, JSON = "text/html", "application/json"
MAX_MEDIA_RANGES = 32  # an Accept header is hostile input too: only its first ranges are read
TEMPLATE = "error.html"
BACK_ROUTE = "console.queue"


def _quality(parameters: list[str]) -> float:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def prefers_html(accept: str) -> bool:
    """Whether the ``Accept`` header names ``text/html`` and ranks it above ``application/json``.

    ``*/*`` alone (fetch's default, curl's) is not a request for a page.
    """
    ranks = {HTML: 0.0, JSON: 0.0}
    for media_range in accept.split(",")[:MAX_MEDIA_RANGES]:
        media_type, *parameters = media_range.split(";")
        media_type = media_type.strip().lower()
        if media_type in ranks:
            ranks[media_type] = max(ranks[media_type], _quality(parameters))
    return ranks[HTML] > 0.0 and ranks[HTML] > ranks[JSON]


def _back(request: web.Request) -> str:
    try:
        return str(request.app.router[BACK_ROUTE].url_for())
    except KeyError:  # an app built without the console (some service tests)
        return "/"


def error_page(request: web.Request, status: int, code: str, detail: str) -> web.Response | None:
    """The HTML error page, or None when the client wants JSON (or the app has no templates)."""
    if TEMPLATES not in request.app or not prefers_html(request.headers.get("Accept", "")):
        return None
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    context = {"status": status, "title": title, "code": code, "detail": detail, "back": _back(request)}
    try:
        html = request.app[TEMPLATES].get_template(TEMPLATE).render(agent=None, error=None, **context)
    except Exception:  # an error page that fails to render must not turn a 4xx into a 500
        logger.exception("error page not rendered", extra={"path": request.path})
        return None
    return web.Response(text=html, content_type="text/html", status=status)
