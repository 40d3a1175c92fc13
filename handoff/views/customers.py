"""Customers' choice about emotion processing: the API the Rasa server and action server use, and
the web chat's switch (thin views over handoff/customers.py)."""

import asyncio

from aiohttp import web

from handoff import contract, customers
from handoff.errors import InvalidRequest
from handoff.keys import ENGINE
from handoff.views import inputs
from handoff.views.auth import authorise

MAX_SESSION_CHARS = 256


async def resolve(request: web.Request) -> web.Response:
    """Which customer these identities are, and whether their emotions may be processed."""
    authorise(request)
    identities = customers.parse_identities((await inputs.json_object(request)).get("identities"))
    found = await asyncio.to_thread(customers.resolve, request.app[ENGINE], identities)
    return web.json_response(found.to_dict())


async def set_consent(request: web.Request) -> web.Response:
    """An opt-out or opt-in, from a conversation (the action server) or another system."""
    authorise(request)
    document = await inputs.json_object(request)
    identities = customers.parse_identities(document.get("identities"))
    changed = await asyncio.to_thread(
        customers.set_emotion_processing,
        request.app[ENGINE],
        identities,
        str(document.get("emotion_processing", "")),
        str(document.get("channel") or "api"),
        str(document.get("source") or "api"),
    )
    return web.json_response(changed.to_dict())


async def consent_of(request: web.Request) -> web.Response:
    authorise(request)
    customer_id = inputs.path_id(request, "customer_id", "customer")
    log = await asyncio.to_thread(customers.consent_log, request.app[ENGINE], customer_id)
    identities = await asyncio.to_thread(customers.identities_of, request.app[ENGINE], customer_id)
    current = log[-1]["emotion_processing"] if log else "on"
    return web.json_response(
        {"customer": customer_id, "emotion_processing": current, "identities": len(identities), "log": log}
    )


def _session(value: object) -> customers.Identity:
    if not isinstance(value, str) or not value.strip() or not contract.is_id(value, MAX_SESSION_CHARS):
        raise InvalidRequest(
            f'"session_id" must be a string of 1 to {MAX_SESSION_CHARS} characters without control characters'
        )
    return customers.normalise("session", value)


async def chat_consent(request: web.Request) -> web.Response:
    """The web chat's switch: GET shows the session's setting, POST changes it (takes effect on the
    customer's next message, on every channel linked to them)."""
    engine = request.app[ENGINE]
    if request.method == "GET":
        found = await asyncio.to_thread(
            customers.resolve, engine, [_session(request.query.get("session_id"))]
        )
        return web.json_response(found.to_dict())
    document = await inputs.json_object(request)
    changed = await asyncio.to_thread(
        customers.set_emotion_processing,
        engine,
        [_session(document.get("session_id"))],
        str(document.get("emotion_processing", "")),
        "socketio",
        "web_switch",
    )
    return web.json_response(changed.to_dict())
