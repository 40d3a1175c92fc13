"""Twilio's webhooks for call-backs: the TwiML a call fetches, and call status callbacks.

Every request must carry a valid ``X-Twilio-Signature`` for the exact public URL Twilio called
(ATTUNE_PUBLIC_URL + path) and its form parameters, checked with the SDK's RequestValidator;
a missing or forged signature gets 403 and is logged.
"""

import asyncio
import logging
from xml.sax.saxutils import escape

from aiohttp import web

from handoff.callbacks import call_jobs
from handoff.core import inputs
from handoff.core.app_keys import ENGINE, METRICS, SETTINGS

logger = logging.getLogger(__name__)


async def _verified_form(request: web.Request) -> dict[str, str]:
    from twilio.request_validator import RequestValidator

    settings = request.app[SETTINGS]
    form = await inputs.form(request)
    signature = request.headers.get("X-Twilio-Signature", "")
    # The raw (still percent-encoded) path: Twilio signs the URL exactly as it called it.
    url = settings.public_url.rstrip("/") + request.rel_url.raw_path_qs
    token = settings.twilio_auth_token
    if not token or not signature or not RequestValidator(token).validate(url, form, signature):
        logger.warning(
            "rejected a Twilio webhook with a missing or wrong signature", extra={"path": request.path}
        )
        raise web.HTTPForbidden(text="missing or invalid X-Twilio-Signature")
    return form


async def twiml(request: web.Request) -> web.Response:
    await _verified_form(request)
    job_id = inputs.path_id(request, "job_id", "call-back job")
    job = await asyncio.to_thread(call_jobs.get_job, request.app[ENGINE], job_id)
    line = request.app[SETTINGS].agent_phone_line
    greeting = "Hello, this is Parcelpine calling you back about your chat with us."
    body = f"<Say>{escape(greeting)} Please hold while we connect you to a member of the team.</Say>"
    body += (
        f"<Dial>{escape(line)}</Dial>"
        if line
        else "<Say>Sorry, nobody can take the call right now; we will message you.</Say>"
    )
    logger.info("call-back answered", extra={"job": job.id})
    return web.Response(
        text=f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>', content_type="text/xml"
    )


async def status(request: web.Request) -> web.Response:
    form = await _verified_form(request)
    await asyncio.to_thread(
        call_jobs.record_status,
        request.app[ENGINE],
        inputs.path_id(request, "job_id", "call-back job"),
        form.get("CallStatus", ""),
        form.get("CallSid"),
        call_jobs.policy_from(request.app[SETTINGS]),
        on_outcome=request.app[METRICS].callback_outcome,
    )
    return web.Response(status=204)
