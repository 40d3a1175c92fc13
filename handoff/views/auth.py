"""The bearer-token check every API view shares (ATTUNE_HANDOFF_API_TOKEN; none set: open, for dev)."""

import hmac

from aiohttp import web

from handoff.errors import Unauthorized
from handoff.keys import SETTINGS


def authorise(request: web.Request) -> bool:
    """Unauthorized unless the bearer token matches; True when it did, False when the API is open
    (no token configured: a caller is then nobody in particular, e.g. it may not merge customers)."""
    token = request.app[SETTINGS].api_token
    if token is None:
        return False
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthorized("missing or wrong bearer token (Authorization: Bearer <ATTUNE_HANDOFF_API_TOKEN>)")
    return True
