"""Customers' choice about emotion processing: the API the Rasa server and action server use, the
undo of a merge, and the web chat's switch (thin views over handoff/privacy/customers.py and
handoff/privacy/customer_merges.py).
"""

import asyncio

from aiohttp import web

from handoff.core import inputs
from handoff.core.app_keys import CHAT_LIMITER, ENGINE, SETTINGS
from handoff.core.service_auth import authorise
from handoff.privacy import consent_epoch, customer_merges, customers, merge_events
from handoff.shared import payload_contract
from handoff.shared.conversation_ids import web_conversation
from handoff.shared.errors import Forbidden, InvalidRequest
from handoff.shared.identity_tokens import verified_session

MAX_SESSION_CHARS = 256
# Requests a minute (and at once) per client address to /chat/consent; in memory (handoff/core/rate_limit.py).
CHAT_PER_MINUTE = 30


async def resolve(request: web.Request) -> web.Response:
    """Which customer these identities are, and whether their emotions may be processed.

    Conditional (consent_epoch.py): the answer's ``ETag`` is the consent epoch it is current for; a
    caller holding an answer sends it back as ``If-None-Match`` and gets ``304`` while nothing that
    could change any answer has happened, after one read and without the body being read.
    """
    linking = customers.Linking(may_merge=authorise(request), source="resolve")
    engine = request.app[ENGINE]
    held = request.headers.get("If-None-Match")
    if held:
        epoch = await asyncio.to_thread(consent_epoch.read, engine)
        if consent_epoch.is_current(held, epoch):
            return web.Response(status=304, headers={"ETag": consent_epoch.etag(epoch)})
    identities = customers.parse_identities((await inputs.json_object(request)).get("identities"))
    found, epoch = await asyncio.to_thread(customers.resolve_current, engine, identities, linking)
    return web.json_response(found.to_dict(), headers={"ETag": consent_epoch.etag(epoch)})


async def set_consent(request: web.Request) -> web.Response:
    """An opt-out or opt-in, from a conversation (the action server) or another system."""
    linking = customers.Linking(may_merge=authorise(request), source="consent")
    document = await inputs.json_object(request)
    identities = customers.parse_identities(document.get("identities"))
    changed = await asyncio.to_thread(
        customers.set_emotion_processing,
        request.app[ENGINE],
        identities,
        str(document.get("emotion_processing", "")),
        str(document.get("channel") or "api"),
        str(document.get("source") or "api"),
        linking,
    )
    return web.json_response(changed.to_dict())


async def consent_of(request: web.Request) -> web.Response:
    authorise(request)
    customer_id = inputs.path_id(request, "customer_id", "customer")
    engine = request.app[ENGINE]
    log = await asyncio.to_thread(customers.consent_log, engine, customer_id)
    identities = await asyncio.to_thread(customers.identities_of, engine, customer_id)
    merges = await asyncio.to_thread(customer_merges.merges_of, engine, customer_id)
    current = log[-1]["emotion_processing"] if log else "on"
    return web.json_response(
        {
            "customer": customer_id,
            "emotion_processing": current,
            "identities": len(identities),
            "log": log,
            "merges": [merge.to_dict() for merge in merges],
        }
    )


async def undo_merge(request: web.Request) -> web.Response:
    """Splits a merged customer again (404 unknown merge; 409 undone already or no longer undoable)."""
    authorise(request)
    merge_id = inputs.path_id(request, "merge_id", "customer merge")
    undone = await asyncio.to_thread(customer_merges.undo, request.app[ENGINE], merge_id)
    await asyncio.to_thread(merge_events.customer_merge_undone, request.app[ENGINE], undone)
    return web.json_response(undone.to_dict())


def _session(request: web.Request, value: object) -> customers.Identity:
    """The conversation of a web chat session the Rasa server issued (its signed id proves it)."""
    if (
        not isinstance(value, str)
        or not value.strip()
        or not payload_contract.is_id(value, MAX_SESSION_CHARS)
    ):
        raise InvalidRequest(
            f'"session_id" must be a string of 1 to {MAX_SESSION_CHARS} characters without control characters'
        )
    session = verified_session(value, request.app[SETTINGS].session_key)
    if session is None:
        raise Forbidden(
            '"session_id" is not a session this service issued: send the signed id the chat received '
            "in session_confirm"
        )
    return customers.Identity("session", web_conversation(session))


async def chat_consent(request: web.Request) -> web.Response:
    """The web chat's switch: GET shows the session's setting (creating nothing), POST changes it
    (from the customer's next message, on every channel linked to them).  Open to browsers, so it
    is rate-limited per client address before anything is read.
    """
    request.app[CHAT_LIMITER].take(inputs.client_address(request))
    engine = request.app[ENGINE]
    if request.method == "GET":
        identity = _session(request, request.query.get("session_id"))
        found = await asyncio.to_thread(customers.lookup, engine, identity)
        return web.json_response(found.to_dict())
    document = await inputs.json_object(request)
    changed = await asyncio.to_thread(
        customers.set_emotion_processing,
        engine,
        [_session(request, document.get("session_id"))],
        str(document.get("emotion_processing", "")),
        "socketio",
        "web_switch",
        customers.Linking(may_merge=False, source="consent"),
    )
    return web.json_response(changed.to_dict())
