"""The bearer-token check every API view shares (ATTUNE_HANDOFF_API_TOKEN; none set: open, for dev)."""

import hmac

from aiohttp import web

from handoff.core.app_keys import SETTINGS
from handoff.shared.errors import Unauthorized

BEARER = "bearer"


def presented_token(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme in any case, RFC 7235);
    None for anything else, a bare token included.
    """
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != BEARER or not token:
        return None
    return token


def authorise(request: web.Request) -> bool:
    """Unauthorized unless the bearer token matches; True when it did, False when the API is open
    (no token configured: a caller is then nobody in particular, e.g. it may not merge customers).
    """
    token = request.app[SETTINGS].api_token
    if token is None:
        return False
    given = presented_token(request.headers.get("Authorization", ""))
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthorized("missing or wrong bearer token (Authorization: Bearer <ATTUNE_HANDOFF_API_TOKEN>)")
    return True
