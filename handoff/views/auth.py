"""The bearer-token check every API view shares (ATTUNE_HANDOFF_API_TOKEN; none set: open, for dev)."""

import hmac

from aiohttp import web

from handoff.errors import Unauthorized
from handoff.keys import SETTINGS


def authorise(request: web.Request) -> None:
    token = request.app[SETTINGS].api_token
    if token is None:
        return
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Unauthorized("missing or wrong bearer token (Authorization: Bearer <ATTUNE_HANDOFF_API_TOKEN>)")
