"""The audit log over HTTP: the action server appends (bearer token), supervisors read (console).

Thin views over handoff/audit/audit_log.py; errors are shaped by the middleware.
"""

import asyncio
import json
from typing import Any

from aiohttp import web

from handoff.audit import audit_log
from handoff.core import access, inputs
from handoff.core.app_keys import ENGINE
from handoff.core.pages import render, require_capability, require_session
from handoff.core.service_auth import authorise
from handoff.shared.audit_entry import ENGINE_ACTOR, ENGINE_KINDS, parse_entry
from handoff.shared.errors import InvalidRequest
from handoff.shared.payload_contract import is_id

MAX_CONVERSATION_CHARS = 255


async def append_entry(request: web.Request) -> web.Response:
    """``POST /api/v1/audit``: one entry from the empathy engine; 201 new, 200 already stored."""
    authorise(request)
    # Only the handoff service writes the handoff service's own entries.
    entry = parse_entry(await inputs.json_value(request), kinds=ENGINE_KINDS, actors=(ENGINE_ACTOR,))
    stored, created = await asyncio.to_thread(audit_log.append, request.app[ENGINE], entry)
    return web.json_response(
        {"seq": stored.seq, "hash": stored.entry_hash, "duplicate": not created},
        status=201 if created else 200,
    )


async def audit_page(request: web.Request) -> web.Response:
    """``GET /console/audit?conversation=<id>``: one conversation's decisions (access policy: audit_log)."""
    login_session = await require_session(request)
    agent = login_session.agent
    require_capability(login_session, access.AUDIT_LOG, "your role does not read the audit log")
    conversation = request.query.get("conversation", "").strip()[:MAX_CONVERSATION_CHARS]
    if conversation and not is_id(conversation, MAX_CONVERSATION_CHARS):
        raise InvalidRequest("conversation ids have no control characters or line breaks")
    entries = (
        await asyncio.to_thread(audit_log.for_conversation, request.app[ENGINE], conversation)
        if conversation
        else []
    )
    return render(
        request,
        "audit.html",
        conversation=conversation,
        # Scores and signals only for roles that see distress indicators (policy/access.yml).
        entries=[
            _shown(record if agent.may(access.DISTRESS_INDICATORS) else record.withheld())
            for record in entries
        ],
        agent=agent,
        csrf_token=login_session.csrf_token,
    )


def _shown(record: audit_log.AuditRecord) -> dict[str, Any]:
    """The entry for the page, its explanation and inputs as readable JSON (escaped by the template)."""
    data = record.to_dict()
    for name in ("explanation", "inputs"):
        data[f"{name}_text"] = json.dumps(data[name], indent=2, ensure_ascii=False, sort_keys=True)
    return data
