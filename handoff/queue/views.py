"""The handoff API: thin views over handoff/queue/handoffs.py (errors are shaped by the middleware).

Callers with the bearer token see what the access policy grants ``api`` (handoff/core/access.py).
"""

import asyncio

from aiohttp import web

from handoff.callbacks import call_jobs
from handoff.core import access, accounts, inputs
from handoff.core.app_keys import ACCESS, CALLS_WAKE, ENGINE, LIVE, METRICS, SETTINGS
from handoff.core.models import CALL_PENDING, HANDOFF_STATUSES, QUEUED, is_handoff_status
from handoff.core.service_auth import authorise
from handoff.core.settings import Settings
from handoff.queue import handoffs
from handoff.shared import payload_contract
from handoff.shared.errors import InvalidRequest

MAX_LIMIT = 1000
MAX_CALLBACK_KEY_CHARS = 128


def _grants(request: web.Request) -> frozenset[str]:
    return request.app[ACCESS].grants(access.API)


async def create_handoff(request: web.Request) -> web.Response:
    authorise(request)
    document = await inputs.json_value(request)
    header_key = request.headers.get("Idempotency-Key")
    if (
        header_key is not None
        and isinstance(document, dict)
        and header_key != document.get("idempotency_key")
    ):
        raise InvalidRequest("the Idempotency-Key header and the payload's idempotency_key differ")
    settings, engine, metrics = request.app[SETTINGS], request.app[ENGINE], request.app[METRICS]
    stored, created = await asyncio.to_thread(
        handoffs.accept_handoff,
        engine,
        document,
        settings.webhook_urls,
        call_jobs.policy_from(settings),
        metrics.callback_outcome,
    )
    if created:
        metrics.handoff_accepted(stored.reason, stored.priority, stored.payload)
        request.app[LIVE].wake.set()  # the live console reads the queue now, not at its next poll
    calls = await asyncio.to_thread(call_jobs.jobs_for, engine, stored.id)
    if calls:
        request.app[CALLS_WAKE].set()  # a "now" call-back is placed at once, not at the next poll
    body = {
        **access.visible_handoff(stored.to_dict(with_payload=False), _grants(request)),
        "duplicate": not created,
        # What the bot tells the customer: their place in the queue and whether anyone is there.
        "queue_position": await asyncio.to_thread(handoffs.queue_position, engine, stored.id),
        "agents_online": await asyncio.to_thread(accounts.agents_online, engine),
        # And what will happen to their call-back (pending / rate_limited), if they asked for one.
        "callback": _callback_summary(calls[0], settings) if calls else None,
    }
    return web.json_response(body, status=201 if created else 200)


async def get_handoff(request: web.Request) -> web.Response:
    authorise(request)
    stored = await asyncio.to_thread(
        handoffs.get_handoff, request.app[ENGINE], inputs.path_id(request, "handoff_id", "handoff")
    )
    return web.json_response(access.visible_handoff(stored.to_dict(), _grants(request)))


async def list_handoffs(request: web.Request) -> web.Response:
    authorise(request)
    status = request.query.get("status", QUEUED)
    if not is_handoff_status(status):
        raise InvalidRequest(f"status must be one of {', '.join(HANDOFF_STATUSES)}")
    limit = inputs.whole_number(request.query.get("limit", "100"))
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    queue = await asyncio.to_thread(handoffs.list_queue, request.app[ENGINE], status, limit)
    grants = _grants(request)
    return web.json_response(
        {"handoffs": [access.visible_handoff(h.to_dict(with_payload=False), grants) for h in queue]}
    )


async def request_callback(request: web.Request) -> web.Response:
    """Asks for a phone call-back for a handoff: stored as a job and placed (or simulated) once."""
    authorise(request)
    handoff_id = inputs.path_id(request, "handoff_id", "handoff")
    document = await inputs.json_object(request)
    if not isinstance(document.get("to"), str):
        raise InvalidRequest('send {"to": "<phone number>"} (E.164 or a national number)')
    key = document.get("idempotency_key") or f"callback-{handoff_id}"
    if not payload_contract.is_id(key, MAX_CALLBACK_KEY_CHARS):
        raise InvalidRequest(f"idempotency_key must be 1 to {MAX_CALLBACK_KEY_CHARS} printable characters")
    engine = request.app[ENGINE]
    settings, outcome = request.app[SETTINGS], request.app[METRICS].callback_outcome
    policy = call_jobs.policy_from(settings)
    job = await asyncio.to_thread(
        call_jobs.request_call, engine, handoff_id, document["to"], key, policy, on_outcome=outcome
    )
    account = call_jobs.account_from(settings)
    placed = await asyncio.to_thread(
        call_jobs.place_call,
        engine,
        job.id,
        account,
        lambda: call_jobs.official_client(account),
        policy,
        on_outcome=outcome,
    )
    return web.json_response(
        {
            "id": placed.id,
            "status": placed.status,
            "simulated": account.simulated,
            "error": access.visible_text(placed.last_error, _grants(request)) if placed.last_error else None,
        },
        status=201 if placed.attempts == 1 and job.status == CALL_PENDING else 200,
    )


def _callback_summary(job: call_jobs.CallState, settings: Settings) -> dict[str, object]:
    return {
        "id": job.id,
        "status": job.status,
        "next_attempt_at": job.next_attempt_at.isoformat() if job.next_attempt_at else None,
        "simulated": call_jobs.account_from(settings).simulated,
    }
