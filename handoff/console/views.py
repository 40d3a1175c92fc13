"""The agent console: queue, handoff view; claim, reply, resolve (server-rendered).

Sessions live in an HttpOnly, SameSite=Strict cookie (handoff/console/login_views.py logs in); every POST
carries the session's CSRF token.  What each role sees (distress indicators, phone numbers,
unmasked personal data) and may do is the access policy's (handoff/core/access.py): every view asks it
through ``agent.may(...)`` and the ``access.visible_*`` helpers.

Claiming pauses the bot for that conversation, resolving hands it back.  Both take the row with a
conditional update first (only a queued handoff can be claimed, only its holder resolves it), so
no call reaches Rasa for a handoff the agent does not hold; when Rasa fails, only that claim or
resolution is undone.  Pages show notices and errors from fixed texts named by a code in the
query (``?error=claim_undone``): nothing a link carries is shown on the page.
"""

import asyncio
import contextlib
import dataclasses
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web
from yarl import URL

from handoff.callbacks import call_jobs
from handoff.console import feedback
from handoff.console.charts import thresholds_of, trajectory_svg
from handoff.core import access, inputs
from handoff.core.accounts import LoginSession
from handoff.core.app_keys import ENGINE, RASA, SETTINGS
from handoff.core.middleware import DEFAULT_CSP
from handoff.core.models import CLAIMED, FLAG_PENDING, QUEUED
from handoff.core.pages import path_to, render, require_capability, require_csrf, require_session
from handoff.core.rasa_client import RasaUnavailable, deliverable
from handoff.history import customer_history
from handoff.queue import csat, handoffs, live_events
from handoff.shared.errors import NotFound
from handoff.shared.identity_tokens import sign_identity_token
from handoff.shared.payload_contract import EMOTION_LABELS
from handoff.workspace import dispositions, panels
from handoff.workspace.app_keys import POLICY

logger = logging.getLogger(__name__)

# The tour's demo customer (ATTUNE_DEMO_SIGN_IN): who /chat?as=demo signs a token for, for an hour.
DEMO_CUSTOMER, DEMO_NAME = "C-1001", "Dana"
DEMO_PHONE, DEMO_EMAIL = "+447700900001", "dana@example.com"
DEMO_TOKEN_SECONDS = 3600
MAX_REPLY_CHARS = 2000
# What ``?error=`` and ``?notice=`` may name; any other value shows nothing.
ERRORS = {
    "claim_undone": "The assistant could not be paused, so the claim was undone. Try again.",
    "reply_length": f"A reply needs 1 to {MAX_REPLY_CHARS} characters.",
    "reply_unsent": "The reply could not be sent; the assistant is unreachable. Try again.",
    "not_resumed": "The assistant could not be resumed; the handoff stays with you. Try again.",
    "choose_turn": "Choose a message to flag.",
    "disposition": "Choose why the handoff is resolved (a reason from the list) before resolving it.",
}
NOTICES = {"flagged": "Thanks, the reading was flagged for review."}


def _waiting(created: datetime) -> str:
    minutes = int((datetime.now(timezone.utc) - created).total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h"


def _visible(payload: dict[str, Any], login_session: LoginSession) -> dict[str, Any]:
    return access.visible_payload(payload, login_session.agent.grants)


def _visible_resolution(stored: handoffs.StoredHandoff, login_session: LoginSession) -> dict[str, Any] | None:
    """Who resolved the handoff and when, and the human part of its conversation, masked for the role."""
    resolution = stored.to_dict().get("resolution")
    if resolution is None:
        return None
    lines = resolution["transcript"]
    return {
        **resolution,
        "transcript": None if lines is None else access.visible_transcript(lines, login_session.agent.grants),
    }


def _visible_calls(jobs: list[call_jobs.CallState], login_session: LoginSession) -> list[dict[str, Any]]:
    agent = login_session.agent
    return [
        access.visible_call(job.to_dict(cleared=agent.may(access.PHONE_NUMBERS)), agent.grants)
        for job in jobs
    ]


def _visible_csat(answers: list[csat.StoredAnswer], login_session: LoginSession) -> list[dict[str, Any]]:
    """The answers, each comment (the customer's own words) masked for the role like the transcript."""
    grants = login_session.agent.grants
    return [
        {**a.to_dict(), "comment": access.visible_text(a.comment, grants) if a.comment else None}
        for a in answers
    ]


def _scores(payload: dict[str, Any], login_session: LoginSession) -> dict[str, float | None]:
    """The latest frustration and distress, for a role cleared for distress indicators."""
    if not login_session.agent.may(access.DISTRESS_INDICATORS):
        return {"frustration": None, "distress": None}
    frustration, distress = live_events.latest_scores(payload)
    return {"frustration": frustration, "distress": distress}


async def queue(request: web.Request) -> web.Response:
    login_session = await require_session(request)
    engine = request.app[ENGINE]
    timeout = timedelta(seconds=request.app[SETTINGS].claim_timeout_seconds)
    await asyncio.to_thread(handoffs.release_stale_claims, engine, timeout)
    waiting = await asyncio.to_thread(handoffs.list_queue, engine, QUEUED, 200)
    claimed = await asyncio.to_thread(handoffs.list_queue, engine, CLAIMED, 200)
    rows = [
        {
            "id": h.id,
            "priority": h.priority,
            "reason": h.reason,
            "status": h.status,
            "mine": h.claimed_by == login_session.agent.id,
            "waiting": _waiting(h.created_at),
            "summary": access.visible_text(str(h.payload.get("summary", "")), login_session.agent.grants),
            **_scores(h.payload, login_session),
        }
        for h in [*waiting, *claimed]
    ]
    return render(
        request, "queue.html", rows=rows, agent=login_session.agent, csrf_token=login_session.csrf_token
    )


async def handoff_page(request: web.Request) -> web.Response:
    login_session = await require_session(request)
    stored = await asyncio.to_thread(handoffs.get_handoff, request.app[ENGINE], _handoff_id(request))
    payload = _visible(stored.payload, login_session)
    return render(
        request,
        "handoff.html",
        handoff=stored,
        payload=payload,
        resolution=_visible_resolution(stored, login_session),
        mine=stored.status == CLAIMED and stored.claimed_by == login_session.agent.id,
        chart=trajectory_svg(payload.get("trajectory", []), thresholds_of(payload)),
        calls=_visible_calls(
            await asyncio.to_thread(call_jobs.jobs_for, request.app[ENGINE], stored.id), login_session
        ),
        simulated=call_jobs.account_from(request.app[SETTINGS]).simulated,
        labels=EMOTION_LABELS,
        # Notes, transfers, colleagues and reason codes (handoff/workspace/panels.py).
        workspace=await panels.for_handoff(
            request.app[ENGINE], request.app[POLICY], stored.id, login_session.agent
        ),
        # The same verified customer's earlier contacts (handoff/history/customer_history.py).
        earlier=await asyncio.to_thread(
            customer_history.for_handoff, request.app[ENGINE], stored.id, login_session.agent.grants
        ),
        # The customer's CSAT answers after this handoff (handoff/queue/csat.py).
        csat=_visible_csat(
            await asyncio.to_thread(csat.for_handoff, request.app[ENGINE], stored.id), login_session
        ),
        notice=NOTICES.get(request.query.get("notice", "")),
        agent=login_session.agent,
        csrf_token=login_session.csrf_token,
        error=ERRORS.get(request.query.get("error", "")),
    )


def _handoff_id(request: web.Request) -> str:
    return inputs.path_id(request, "handoff_id", "handoff")


def _page(request: web.Request, handoff_id: str, **query: str) -> URL:
    """The handoff page's path, its id and query URL-encoded."""
    return path_to(request, "console.handoff", handoff_id=handoff_id).with_query(query)


def _back(request: web.Request, handoff_id: str, error: str | None = None) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(_page(request, handoff_id, error=error) if error else _page(request, handoff_id))


async def claim(request: web.Request) -> web.StreamResponse:
    login_session = await require_session(request)
    await require_csrf(request, login_session)
    handoff_id, engine, agent_id = _handoff_id(request), request.app[ENGINE], login_session.agent.id
    # The row first: only a queued handoff becomes this agent's (409 otherwise); nothing is sent yet.
    stored, taken = await asyncio.to_thread(handoffs.claim, engine, handoff_id, agent_id)
    if not taken:
        return _back(request, handoff_id)  # already this agent's: the bot is paused already
    rasa, paused = request.app[RASA], False
    try:
        deliverable(stored.conversation_id)  # an agent who cannot answer must not silence the bot
        # Pause first: a bot that keeps answering next to a person is worse than no claim.
        await rasa.pause(stored.conversation_id)
        paused = True
        await rasa.say(
            stored.conversation_id, "utter_agent_joined", {"agent_name": login_session.agent.display_name}
        )
    except RasaUnavailable as error:
        logger.warning("claim of handoff %s undone: %s", handoff_id, error)
        await asyncio.to_thread(handoffs.unclaim, engine, handoff_id, agent_id)
        if paused:  # the customer must not be left with neither the bot nor a person
            with contextlib.suppress(RasaUnavailable):
                await rasa.resume(stored.conversation_id)
        return _back(request, handoff_id, "claim_undone")
    return _back(request, handoff_id)


async def reply(request: web.Request) -> web.StreamResponse:
    login_session = await require_session(request)
    form = await require_csrf(request, login_session)
    text = form.get("text", "").strip()
    handoff_id, engine = _handoff_id(request), request.app[ENGINE]
    if not text or len(text) > MAX_REPLY_CHARS:
        return _back(request, handoff_id, "reply_length")
    stored = await asyncio.to_thread(handoffs.check_in, engine, handoff_id, login_session.agent.id)
    try:
        await request.app[RASA].relay(stored.conversation_id, login_session.agent.display_name, text)
    except RasaUnavailable:
        return _back(request, handoff_id, "reply_unsent")
    return _back(request, handoff_id)


async def resolve(request: web.Request) -> web.StreamResponse:
    login_session = await require_session(request)
    form = await require_csrf(request, login_session)
    handoff_id, engine, agent_id = _handoff_id(request), request.app[ENGINE], login_session.agent.id
    # A reason code from policy/workspace.yml is required; stored only if the agent holds the handoff.
    choice = dispositions.chosen(request.app[POLICY], form)
    if choice is None:
        return _back(request, handoff_id, "disposition")
    await asyncio.to_thread(dispositions.record, engine, handoff_id, agent_id, choice)
    # The row first: only the agent holding it resolves it (409 otherwise), before Rasa hears anything.
    stored = await asyncio.to_thread(handoffs.resolve, engine, handoff_id, agent_id)
    rasa = request.app[RASA]
    try:
        await rasa.resume(stored.conversation_id)
    except RasaUnavailable:
        await asyncio.to_thread(handoffs.reopen, engine, handoff_id, agent_id)
        return _back(request, handoff_id, "not_resumed")
    await _keep_human_part(request, stored.conversation_id, handoff_id, agent_id)
    try:
        await rasa.say_handed_back(stored.conversation_id)
    except RasaUnavailable as error:
        # The bot is back in charge, so the handoff is over; only the goodbye did not reach them.
        logger.warning("handoff %s resolved, but the customer was not told: %s", handoff_id, error)
    return web.HTTPSeeOther(path_to(request, "console.queue"))


async def _keep_human_part(
    request: web.Request, conversation_id: str, handoff_id: str, agent_id: int
) -> None:
    """Keeps what the agent and the customer said (from the claim's pause to the resume) with the
    resolved handoff; the bot's goodbye comes after it.  A Rasa that does not answer now loses only
    this record, not the resolution.
    """
    try:
        lines = await request.app[RASA].human_part(conversation_id)
    except RasaUnavailable as error:
        logger.warning(
            "handoff %s resolved, but its conversation with the agent was not kept: %s", handoff_id, error
        )
        return
    await asyncio.to_thread(handoffs.keep_human_part, request.app[ENGINE], handoff_id, agent_id, lines)


async def messages(request: web.Request) -> web.Response:
    """The live conversation for the console (polled while the agent holds the handoff)."""
    login_session = await require_session(request)
    handoff_id, engine = _handoff_id(request), request.app[ENGINE]
    stored = await asyncio.to_thread(handoffs.get_handoff, engine, handoff_id)
    if stored.status == CLAIMED and stored.claimed_by == login_session.agent.id:
        await asyncio.to_thread(handoffs.check_in, engine, handoff_id, login_session.agent.id)
    try:
        lines = await request.app[RASA].messages(stored.conversation_id)
    except RasaUnavailable:
        lines = [*stored.payload.get("transcript", []), *(stored.human_transcript or [])]
    visible = access.visible_transcript(lines, login_session.agent.grants)
    return web.json_response({"status": stored.status, "messages": visible})


async def calls(request: web.Request) -> web.Response:
    """The handoff's call-backs with their live status (polled by the handoff page)."""
    login_session = await require_session(request)
    handoff_id, engine = _handoff_id(request), request.app[ENGINE]
    await asyncio.to_thread(handoffs.get_handoff, engine, handoff_id)  # 404 for an unknown handoff
    jobs = await asyncio.to_thread(call_jobs.jobs_for, engine, handoff_id)
    return web.json_response(
        {
            "simulated": call_jobs.account_from(request.app[SETTINGS]).simulated,
            "calls": _visible_calls(jobs, login_session),
        }
    )


def _demo_token(request: web.Request) -> str | None:
    """A fresh identity token for the demo customer, when the tour's sign-in is on and asked for."""
    settings = request.app[SETTINGS]
    if request.query.get("as") != "demo" or not settings.demo_sign_in or not settings.identity_key:
        return None
    return sign_identity_token(
        DEMO_CUSTOMER,
        settings.identity_key,
        phone=DEMO_PHONE,
        email=DEMO_EMAIL,
        lifetime=DEMO_TOKEN_SECONDS,
    )


async def chat_page(request: web.Request) -> web.Response:
    """The customer web chat; it talks to Rasa's socket.io channel directly.

    Anonymous by default.  With ATTUNE_DEMO_SIGN_IN, ``/chat?as=demo`` is the page a logged-in site
    would serve: it carries an identity token its server signed (here for the demo customer), which
    chat.js sends in the socket.io CONNECT packet.
    """
    settings = request.app[SETTINGS]
    token = _demo_token(request)
    response = render(
        request,
        "chat.html",
        socket_url=settings.public_rasa_url,
        identity_token=token or "",
        signed_in_as=DEMO_NAME if token else None,
        demo_sign_in=settings.demo_sign_in and bool(settings.identity_key),
    )
    ws = settings.public_rasa_url.replace("http", "ws", 1)
    # The default policy (middleware.DEFAULT_CSP) and socket.io's connection to the Rasa server.
    response.headers["Content-Security-Policy"] = (
        f"{DEFAULT_CSP}; connect-src 'self' {settings.public_rasa_url} {ws}"
    )
    # The signed-in page holds a bearer token: not cached (nor sent on in a Referer: every response).
    response.headers["Cache-Control"] = "no-store"
    return response


# --- feedback on emotion readings -------------------------------------------------------
async def flag_reading(request: web.Request) -> web.StreamResponse:
    login_session = await require_session(request)
    require_capability(
        login_session, access.DISTRESS_INDICATORS, "emotion readings are not shown to your role"
    )
    form = await require_csrf(request, login_session)
    handoff_id = _handoff_id(request)
    turn = inputs.whole_number(form.get("turn"))
    if turn is None:
        return _back(request, handoff_id, "choose_turn")
    await asyncio.to_thread(
        feedback.flag_reading,
        request.app[ENGINE],
        handoff_id,
        turn,
        form.get("label", ""),
        login_session.agent.id,
    )
    return web.HTTPSeeOther(_page(request, handoff_id, notice="flagged"))


def _require_reviewer(login_session: LoginSession) -> None:
    require_capability(login_session, access.REVIEW_FLAGS, "your role does not review emotion flags")


async def flags_page(request: web.Request) -> web.Response:
    login_session = await require_session(request)
    _require_reviewer(login_session)
    grants = login_session.agent.grants
    pending = [
        dataclasses.replace(flag, text=access.visible_text(flag.text, grants))
        for flag in await asyncio.to_thread(feedback.flags, request.app[ENGINE], FLAG_PENDING)
    ]
    return render(
        request, "flags.html", flags=pending, agent=login_session.agent, csrf_token=login_session.csrf_token
    )


async def review_flag(request: web.Request) -> web.StreamResponse:
    login_session = await require_session(request)
    _require_reviewer(login_session)
    flag_id = inputs.whole_number(request.match_info["flag_id"])
    if flag_id is None:
        raise NotFound("no flag with that id (flag ids are whole numbers)")
    form = await require_csrf(request, login_session)
    if form.get("decision") not in ("accept", "reject"):
        raise web.HTTPBadRequest(text="decision must be accept or reject")
    await asyncio.to_thread(
        feedback.review, request.app[ENGINE], flag_id, form["decision"] == "accept", login_session.agent.id
    )
    return web.HTTPSeeOther(path_to(request, "console.flags"))
