"""The supervisor's "assign to an agent" form on a queued handoff (handoff/workspace/assignment.py).

Permission first (the workspace policy's ``reassign``, 403 otherwise), then CSRF, then the
conditional assignment, then the bot paused and the customer told who joins, as on a claim; when
Rasa does not answer the assignment is undone and the page says so.
"""

import asyncio
import contextlib
import logging

from aiohttp import web

from handoff.core import inputs
from handoff.core.app_keys import ENGINE, RASA
from handoff.core.pages import path_to, require_csrf, require_session
from handoff.core.rasa_client import RasaUnavailable, deliverable
from handoff.shared.errors import Forbidden, InvalidRequest
from handoff.workspace import assignment
from handoff.workspace.app_keys import POLICY
from handoff.workspace.policy import REASSIGN

logger = logging.getLogger(__name__)


async def assign(request: web.Request) -> web.StreamResponse:
    login_session = await require_session(request)
    if not request.app[POLICY].allows(login_session.agent.role, REASSIGN):
        raise Forbidden("your role does not assign handoffs")
    form = await require_csrf(request, login_session)
    handoff_id = inputs.path_id(request, "handoff_id", "handoff")
    to_agent = inputs.whole_number(form.get("to"))
    if to_agent is None:
        raise InvalidRequest("choose the agent to assign to (an agent's id)")
    engine = request.app[ENGINE]
    done = await asyncio.to_thread(
        assignment.assign, engine, handoff_id, login_session.agent.id, to_agent, form.get("note")
    )
    page = path_to(request, "console.handoff", handoff_id=handoff_id)
    rasa, paused = request.app[RASA], False
    try:
        deliverable(done.conversation_id)
        await rasa.pause(done.conversation_id)
        paused = True
        await rasa.say(done.conversation_id, "utter_agent_joined", {"agent_name": done.to_name})
    except RasaUnavailable as error:
        logger.warning("assignment of handoff %s undone: %s", handoff_id, error)
        await asyncio.to_thread(assignment.undo, engine, handoff_id, to_agent)
        if paused:
            with contextlib.suppress(RasaUnavailable):
                await rasa.resume(done.conversation_id)
        return web.HTTPSeeOther(page.with_query(error="claim_undone"))
    return web.HTTPSeeOther(page)
