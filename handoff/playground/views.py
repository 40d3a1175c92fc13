"""The playground's pages and JSON endpoints: thin views over handoff/playground/service.py.

Every request needs a console session whose role has ``empathy_playground`` (policy/access.yml: the
designer and the admin); the JSON posts carry the session's CSRF token in the body.  Domain errors
(a bad edit: 400 with the validator's reason; a stale page: 409) are shaped by the error middleware;
the Rasa server not answering is a 503 saying so.
"""

import hmac
from typing import Any

from aiohttp import web

from handoff.core import access, inputs
from handoff.core.accounts import LoginSession
from handoff.core.app_keys import ENGINE, RASA
from handoff.core.pages import render, require_session
from handoff.core.rasa_client import RasaUnavailable
from handoff.playground import policy_draft
from handoff.playground.app_keys import PLAYGROUND
from handoff.playground.service import parse_turns
from handoff.shared.errors import Forbidden, HandoffError


class NluUnavailable(HandoffError):
    status = 503
    code = "rasa_unavailable"


async def _json_session(request: web.Request) -> tuple[LoginSession, dict[str, Any]]:
    """The session (playground role) and the JSON body, its CSRF token checked."""
    login = await require_session(request, access.EMPATHY_PLAYGROUND)
    body = await inputs.json_object(request)
    token = body.get("csrf_token")
    if not isinstance(token, str) or not hmac.compare_digest(token.encode(), login.csrf_token.encode()):
        raise Forbidden("the page is stale or did not come from this console (CSRF check failed)")
    return login, body


async def page(request: web.Request) -> web.Response:
    login = await require_session(request, access.EMPATHY_PLAYGROUND)
    playground = request.app[PLAYGROUND]
    text, saved = playground.saved()
    values = policy_draft.values(saved)
    groups: dict[str, list[tuple[str, str, float]]] = {}
    for name, value in values.items():
        section, _, key = name.partition(".")
        group = f"{section} weights" if key.startswith("weights.") else section
        groups.setdefault(group, []).append((name, key.removeprefix("weights."), value))
    return render(
        request,
        "playground.html",
        agent=login.agent,
        csrf_token=login.csrf_token,
        groups=groups,
        version=policy_draft.version_of(text),
        policy_file=str(playground.policy_file),
        dev_available=playground.dev_available,
    )


async def score(request: web.Request) -> web.Response:
    _, body = await _json_session(request)
    turns = parse_turns(body.get("turns"))
    edits = policy_draft.parse_edits(body.get("edits"))
    try:
        result = await request.app[PLAYGROUND].score(
            request.app[RASA], turns, edits, opted_out=body.get("opted_out") is True
        )
    except RasaUnavailable as error:
        raise NluUnavailable(f"the Rasa server did not read the messages: {error}") from error
    return web.json_response(result)


async def samples(request: web.Request) -> web.Response:
    _, body = await _json_session(request)
    edits = policy_draft.parse_edits(body.get("edits"))
    try:
        result = await request.app[PLAYGROUND].samples(request.app[RASA], edits, dev=body.get("dev") is True)
    except RasaUnavailable as error:
        raise NluUnavailable(f"the Rasa server did not read the samples: {error}") from error
    return web.json_response(result)


async def save(request: web.Request) -> web.Response:
    login, body = await _json_session(request)
    edits = policy_draft.parse_edits(body.get("edits"))
    version = body.get("version")
    if not isinstance(version, str) or len(version) > 64:
        raise HandoffError("version: send the version of the policy the page started from")
    result = await request.app[PLAYGROUND].save(request.app[ENGINE], edits, version, login.agent.username)
    return web.json_response(result)
