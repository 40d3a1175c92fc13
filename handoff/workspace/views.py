"""The workspace's views: canned responses (page, search), notes, transfers, presence and capacity.

Thin like the console's: the session first, then the workspace policy's permission, then CSRF for
anything that changes state, then a service function.  Domain errors become 4xx with a reason in
the error middleware.
"""

import asyncio
import contextlib

from aiohttp import web

from handoff.core import access, inputs
from handoff.core.accounts import LoginSession
from handoff.core.app_keys import ENGINE, RASA
from handoff.core.pages import path_to, render, require_csrf, require_session
from handoff.core.rasa_client import RasaUnavailable
from handoff.queue import handoffs
from handoff.shared import payload_contract
from handoff.shared.errors import Forbidden, InvalidRequest, NotFound
from handoff.workspace import canned, notes, presence, transfers
from handoff.workspace.app_keys import POLICY
from handoff.workspace.policy import EDIT_CANNED, MANAGE_TEAM, READ_OTHERS_NOTES, REASSIGN

# What ``?error=`` on the canned responses page may name; nothing a link carries is shown.
CANNED_NOTICES = {"saved": "Saved.", "removed": "Removed."}


def _require(request: web.Request, login_session: LoginSession, permission: str, refusal: str) -> None:
    if not request.app[POLICY].allows(login_session.agent.role, permission):
        raise Forbidden(refusal)


def _handoff_id(request: web.Request) -> str:
    return inputs.path_id(request, "handoff_id", "handoff")


def _number(text: str | None, what: str) -> int:
    number = inputs.whole_number(text)
    if number is None:
        raise NotFound(f"no {what} with that id ({what} ids are whole numbers)")
    return number


# --- canned responses ------------------------------------------------------------------------
async def canned_page(request: web.Request) -> web.Response:
    login_session = await require_session(request)
    responses = await asyncio.to_thread(canned.all_responses, request.app[ENGINE])
    return render(
        request,
        "canned.html",
        responses=responses,
        slots=tuple(canned.SLOT_SOURCES),
        may_edit=request.app[POLICY].allows(login_session.agent.role, EDIT_CANNED),
        notice=CANNED_NOTICES.get(request.query.get("notice", "")),
        agent=login_session.agent,
        csrf_token=login_session.csrf_token,
    )


async def _editor(request: web.Request) -> tuple[LoginSession, dict[str, str]]:
    login_session = await require_session(request)
    _require(request, login_session, EDIT_CANNED, "your role does not edit canned responses")
    return login_session, await require_csrf(request, login_session)


def _to_canned(request: web.Request, notice: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(path_to(request, "workspace.canned").with_query(notice=notice))


async def create_canned(request: web.Request) -> web.StreamResponse:
    login_session, form = await _editor(request)
    await asyncio.to_thread(
        canned.create,
        request.app[ENGINE],
        form.get("shortcut"),
        form.get("title"),
        form.get("body"),
        login_session.agent.id,
    )
    return _to_canned(request, "saved")


async def update_canned(request: web.Request) -> web.StreamResponse:
    login_session, form = await _editor(request)
    canned_id = _number(request.match_info["canned_id"], "canned response")
    engine = request.app[ENGINE]
    if form.get("action") == "remove":
        await asyncio.to_thread(canned.remove, engine, canned_id)
        return _to_canned(request, "removed")
    await asyncio.to_thread(
        canned.update,
        engine,
        canned_id,
        form.get("shortcut"),
        form.get("title"),
        form.get("body"),
        login_session.agent.id,
    )
    return _to_canned(request, "saved")


async def search_canned(request: web.Request) -> web.Response:
    """What the reply box's "/" shows: matching responses, filled from the handoff when one is named."""
    login_session = await require_session(request)
    engine = request.app[ENGINE]
    found = await asyncio.to_thread(canned.search, engine, request.query.get("q", ""))
    values: dict[str, str] = {}
    handoff_id = request.query.get("handoff")
    if handoff_id:
        if not payload_contract.is_id(handoff_id, inputs.MAX_PATH_ID_CHARS):
            raise NotFound("no handoff with that id")
        stored = await asyncio.to_thread(handoffs.get_handoff, engine, handoff_id)
        grants = login_session.agent.grants
        # The values as the page shows them to this role (a first name is not masked; a number in it may be).
        values = {k: access.visible_text(v, grants) for k, v in canned.slot_values(stored.payload).items()}
    return web.json_response({"responses": [canned.fill(c, values).to_dict() for c in found]})


# --- notes and transfers -----------------------------------------------------------------------
def _to_handoff(request: web.Request, handoff_id: str, anchor: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(path_to(request, "console.handoff", handoff_id=handoff_id).with_fragment(anchor))


async def add_note(request: web.Request) -> web.StreamResponse:
    login_session = await require_session(request)
    form = await require_csrf(request, login_session)
    handoff_id = _handoff_id(request)
    await asyncio.to_thread(
        notes.add, request.app[ENGINE], handoff_id, login_session.agent.id, form.get("text")
    )
    return _to_handoff(request, handoff_id, "notes")


async def list_notes(request: web.Request) -> web.Response:
    login_session = await require_session(request)
    handoff_id, engine, agent = _handoff_id(request), request.app[ENGINE], login_session.agent
    await asyncio.to_thread(handoffs.get_handoff, engine, handoff_id)  # 404 for an unknown handoff
    others = request.app[POLICY].allows(agent.role, READ_OTHERS_NOTES)
    found = await asyncio.to_thread(notes.for_handoff, engine, handoff_id, agent.id, others)
    shown = [{**n.to_dict(), "body": access.visible_text(n.body, agent.grants)} for n in found]
    return web.json_response({"notes": shown, "own_only": not others})


async def transfer(request: web.Request) -> web.StreamResponse:
    login_session = await require_session(request)
    form = await require_csrf(request, login_session)
    handoff_id, engine = _handoff_id(request), request.app[ENGINE]
    to_agent = inputs.whole_number(form.get("to"))
    if to_agent is None:
        raise InvalidRequest("choose the colleague to transfer to (an agent id)")
    agent = login_session.agent
    done = await asyncio.to_thread(
        transfers.transfer,
        engine,
        handoff_id,
        agent.id,
        to_agent,
        form.get("note"),
        request.app[POLICY].allows(agent.role, REASSIGN),
    )
    # The customer hears who they are talking to now, as on a claim; if Rasa does not answer, the
    # transfer stands and the new agent's first reply carries their name.
    with contextlib.suppress(RasaUnavailable):
        await request.app[RASA].say(done.conversation_id, "utter_agent_joined", {"agent_name": done.to_name})
    return web.HTTPSeeOther(path_to(request, "console.queue"))


# --- presence and capacity ---------------------------------------------------------------------
async def team_page(request: web.Request) -> web.Response:
    login_session = await require_session(request)
    members = await asyncio.to_thread(presence.team, request.app[ENGINE])
    return render(
        request,
        "team.html",
        members=members,
        me=next((m for m in members if m.id == login_session.agent.id), None),
        may_manage=request.app[POLICY].allows(login_session.agent.role, MANAGE_TEAM),
        agent=login_session.agent,
        csrf_token=login_session.csrf_token,
    )


async def team_json(request: web.Request) -> web.Response:
    await require_session(request)
    members = await asyncio.to_thread(presence.team, request.app[ENGINE])
    return web.json_response(
        {"agents": [m.to_dict() for m in members], "available": sum(m.available for m in members)}
    )


async def set_presence(request: web.Request) -> web.StreamResponse:
    login_session = await require_session(request)
    form = await require_csrf(request, login_session)
    await asyncio.to_thread(
        presence.set_presence, request.app[ENGINE], login_session.agent.id, form.get("presence", "")
    )
    return web.HTTPSeeOther(path_to(request, "workspace.team"))


async def set_capacity(request: web.Request) -> web.StreamResponse:
    login_session = await require_session(request)
    _require(request, login_session, MANAGE_TEAM, "your role does not set capacities")
    form = await require_csrf(request, login_session)
    agent_id = _number(request.match_info["agent_id"], "agent")
    await asyncio.to_thread(
        presence.set_capacity, request.app[ENGINE], agent_id, inputs.whole_number(form.get("capacity"))
    )
    return web.HTTPSeeOther(path_to(request, "workspace.team"))
