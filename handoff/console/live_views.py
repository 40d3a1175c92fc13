"""The live console: Server-Sent Events for the queue, a handoff and the web chat; reply and typing by fetch.

Streams (``text/event-stream``; the browser's EventSource reconnects by itself, sending ``Last-Event-ID``):

- ``GET /console/events``: the queue.  First a ``snapshot`` of the open handoffs (or, on a reconnect to
  the same process, the events missed since ``Last-Event-ID``), then ``queued`` / ``claimed`` / ``closed``
  as they happen on any instance (handoff/queue/live_events.py).
- ``GET /console/handoffs/{id}/events``: one handoff: ``status``, ``messages`` (the conversation, read
  from Rasa), ``calls`` (call-back status) when they change, and ``typing`` when the customer types.
  For the agent who holds the handoff it also keeps the claim alive, as the page's polling did.
- ``GET /chat/events?session_id=<signed>``: the web chat's: ``typing`` when the agent types.

The console's streams need an agent session exactly as the pages do (401, never a stream, without one);
what they carry is masked for the agent's role like the pages (``access.visible_*``).  Every stream
re-reads the session every ``SESSION_CHECK_SECONDS`` (a logged-out or disabled agent's stream ends with
``logout``; it also keeps the agent counted as online), and sends a comment every ``HEARTBEAT_SECONDS``
so proxies keep the connection and a dead one is noticed.  The chat's stream needs a session id the
Rasa server signed (403 otherwise) and is rate-limited per address like /chat/consent.

Typing indicators are in-process hints (handoff/core/live_hub.py); SMS and WhatsApp show none, and the
console says so.
"""

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timezone
from typing import Any, Final

from aiohttp import web

from handoff.callbacks import call_jobs
from handoff.console import views
from handoff.core import access, inputs
from handoff.core.accounts import LoginSession
from handoff.core.app_keys import ENGINE, LIVE, LIVE_CHAT_LIMITER, RASA, SETTINGS
from handoff.core.live_hub import (
    QUEUE,
    LiveEvent,
    Overflowed,
    Subscription,
    TooManySubscribers,
    conversation_topic,
    handoff_topic,
)
from handoff.core.models import CLAIMED, RESOLVED
from handoff.core.pages import current_session, path_to, require_csrf
from handoff.core.rasa_client import RasaUnavailable
from handoff.queue import handoffs, live_events
from handoff.shared import payload_contract
from handoff.shared.conversation_ids import channel_of, web_conversation
from handoff.shared.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthorized
from handoff.shared.identity_tokens import verified_session

HEARTBEAT_SECONDS = 15.0
SESSION_CHECK_SECONDS = 30.0
RETRY_MILLISECONDS = 2000  # how long EventSource waits before reconnecting
GONE_CHECK_SECONDS = 5.0  # a browser that left is noticed (and its stream ended) within this
# How often a handoff stream reads the conversation: the holder's often, a looker's less.
HOLDER_POLL_SECONDS = 0.4
LOOKER_POLL_SECONDS = 2.0
CALLS_POLL_SECONDS = 2.0
CHECK_IN_SECONDS = 5.0
MAX_SESSION_CHARS = 256
TYPING: Final = "typing"


# --- the SSE wire format -----------------------------------------------------------------------------
def sse_frame(kind: str, data: dict[str, Any], event_id: str | None = None) -> bytes:
    """One event: its id (when it has one), its name and its JSON on one ``data:`` line."""
    lines = [f"id: {event_id}"] if event_id else []
    lines += [f"event: {kind}", "data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":"))]
    return ("\n".join(lines) + "\n\n").encode()


async def _open(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",  # nginx and the like must not hold events back
        }
    )
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MILLISECONDS}\n\n".encode())
    return response


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@contextlib.contextmanager
def _subscribed(request: web.Request, topic: str) -> Iterator[Subscription]:
    try:
        with request.app[LIVE].subscribe(topic) as subscription:
            yield subscription
    except TooManySubscribers as error:
        raise web.HTTPServiceUnavailable(
            text="too many live streams on this instance; the page falls back to reloading"
        ) from error


Tick = Callable[[], Awaitable[None]]


async def _pump(
    request: web.Request,
    response: web.StreamResponse,
    subscription: Subscription,
    on_event: Callable[[LiveEvent], Awaitable[None]],
    tick: Tick | None = None,
    tick_seconds: float = HEARTBEAT_SECONDS,
    still_allowed: Callable[[], Awaitable[bool]] | None = None,
) -> None:
    """Forwards the subscription's events, runs ``tick`` every ``tick_seconds``, sends heartbeats and
    re-checks the session, until the client goes, the session ends or the service shuts down.
    """
    hub = request.app[LIVE]
    now = time.monotonic()
    beat_at, check_at = now + HEARTBEAT_SECONDS, now + SESSION_CHECK_SECONDS
    try:
        while not hub.closing.is_set() and not _gone(request):
            event = await subscription.next(min(tick_seconds, GONE_CHECK_SECONDS))
            if event is not None:
                await on_event(event)
            if tick is not None:
                await tick()
            now = time.monotonic()
            if still_allowed is not None and now >= check_at:
                check_at = now + SESSION_CHECK_SECONDS
                if not await still_allowed():
                    await response.write(sse_frame("logout", {"reason": "the session ended"}))
                    return
            if now >= beat_at:
                beat_at = now + HEARTBEAT_SECONDS
                await response.write(b": heartbeat\n\n")
    except (ConnectionResetError, Overflowed):
        return  # the browser left, or fell behind (it reconnects and gets a snapshot)


async def _agent(request: web.Request) -> LoginSession:
    """The agent's session; 401 for a stream without one (an EventSource cannot follow a login redirect)."""
    login = await current_session(request)
    if login is None:
        raise Unauthorized("log in to the console first: live updates need an agent session")
    return login


def _session_check(request: web.Request) -> Callable[[], Awaitable[bool]]:
    async def still_allowed() -> bool:
        return await current_session(request) is not None

    return still_allowed


# --- the queue ---------------------------------------------------------------------------------------
def visible_row(row: dict[str, Any], login: LoginSession, request: web.Request) -> dict[str, Any]:
    """A queue row as this agent may see it: the summary masked, "mine" instead of who holds it, the
    scores only for a role cleared for distress indicators.
    """
    shown = {key: value for key, value in row.items() if key != "claimed_by"}
    shown["summary"] = access.visible_text(str(row.get("summary", "")), login.agent.grants)
    shown["mine"] = row.get("claimed_by") == login.agent.id
    if not login.agent.may(access.DISTRESS_INDICATORS):  # scores are distress indicators (policy/access.yml)
        shown["frustration"] = shown["distress"] = None
    shown["url"] = str(path_to(request, "console.handoff", handoff_id=str(row["id"])))
    return shown


async def queue_events(request: web.Request) -> web.StreamResponse:
    login = await _agent(request)
    hub = request.app[LIVE]
    with _subscribed(request, QUEUE) as subscription:
        hub.wake.set()  # the watcher reads now, so this stream's first changes come at once
        missed = hub.since(request.headers.get("Last-Event-ID"))
        snapshot_id = hub.last_id
        response = await _open(request)
        with contextlib.suppress(ConnectionResetError):  # the browser left during the first writes
            await _queue_start(request, response, login, missed, snapshot_id)

            async def forward(event: LiveEvent) -> None:
                await response.write(_queue_frame(event, login, request))

            await _pump(request, response, subscription, forward, still_allowed=_session_check(request))
    return response


async def _queue_start(
    request: web.Request,
    response: web.StreamResponse,
    login: LoginSession,
    missed: list[LiveEvent] | None,
    snapshot_id: str,
) -> None:
    """What a queue stream starts with: a snapshot, or on a reconnect the events it missed."""
    if missed is None:
        rows = await asyncio.to_thread(live_events.open_rows, request.app[ENGINE])
        handoff_rows = [visible_row(row.to_dict(), login, request) for row in rows]
        await response.write(sse_frame("snapshot", {"handoffs": handoff_rows}, snapshot_id))
    for event in missed or []:
        await response.write(_queue_frame(event, login, request))


def _queue_frame(event: LiveEvent, login: LoginSession, request: web.Request) -> bytes:
    data = event.data if event.kind == "closed" else visible_row(event.data, login, request)
    return sse_frame(event.kind, data, event.id)


# --- one handoff ------------------------------------------------------------------------------------
def _iso(at: object) -> str | None:
    """Rasa's epoch seconds (or an RFC 3339 string, from the stored transcript) as RFC 3339 UTC."""
    if isinstance(at, str):
        return at
    if isinstance(at, bool) or not isinstance(at, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(float(at), timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


class HandoffFeed:
    """What one handoff stream last sent, and reads the rest when it is due."""

    def __init__(self, request: web.Request, login: LoginSession, handoff_id: str, conversation: str) -> None:
        self.request, self.login, self.handoff_id, self.conversation = (
            request,
            login,
            handoff_id,
            conversation,
        )
        self.sent: dict[str, str] = {}
        self.status: str | None = None
        self.holder: int | None = None
        self.due: dict[str, float] = {}

    def _is_due(self, what: str, every: float, force: bool = False) -> bool:
        now = time.monotonic()
        if force or now >= self.due.get(what, 0.0):
            self.due[what] = now + every
            return True
        return False

    async def _send_changed(self, response: web.StreamResponse, kind: str, data: dict[str, Any]) -> None:
        text = json.dumps(data, sort_keys=True, default=str)
        if self.sent.get(kind) != text:
            self.sent[kind] = text
            await response.write(sse_frame(kind, data))

    @property
    def mine(self) -> bool:
        return self.status == CLAIMED and self.holder == self.login.agent.id

    async def refresh(self, response: web.StreamResponse, force: bool = False) -> None:
        engine = self.request.app[ENGINE]
        state = await asyncio.to_thread(live_events.state_of, engine, self.handoff_id)
        if state is None:
            await self._send_changed(response, "status", {"status": "gone", "mine": False})
            return
        self.status, self.holder = state[0], state[1]
        await self._send_changed(response, "status", {"status": self.status, "mine": self.mine})
        if self.mine and self._is_due("check_in", CHECK_IN_SECONDS):
            with contextlib.suppress(Conflict, NotFound):  # lost meanwhile: the next status says so
                await asyncio.to_thread(handoffs.check_in, engine, self.handoff_id, self.login.agent.id)
        every = HOLDER_POLL_SECONDS if self.mine else LOOKER_POLL_SECONDS
        if self.status != RESOLVED and self._is_due("messages", every, force):
            await self._send_changed(response, "messages", {"messages": await self._messages()})
        if self._is_due("calls", CALLS_POLL_SECONDS, force):
            await self._send_changed(response, "calls", await self._calls())

    async def _messages(self) -> list[Any]:
        try:
            lines = await self.request.app[RASA].messages(self.conversation)
        except RasaUnavailable:
            stored = await asyncio.to_thread(handoffs.get_handoff, self.request.app[ENGINE], self.handoff_id)
            lines = [*stored.payload.get("transcript", []), *(stored.human_transcript or [])]
        dated = [{**line, "at": _iso(line.get("at"))} for line in lines if isinstance(line, dict)]
        return access.visible_transcript(dated, self.login.agent.grants)

    async def _calls(self) -> dict[str, Any]:
        jobs = await asyncio.to_thread(call_jobs.jobs_for, self.request.app[ENGINE], self.handoff_id)
        agent = self.login.agent
        return {
            "calls": [
                access.visible_call(job.to_dict(cleared=agent.may(access.PHONE_NUMBERS)), agent.grants)
                for job in jobs
            ]
        }


async def handoff_events(request: web.Request) -> web.StreamResponse:
    login = await _agent(request)
    handoff_id = inputs.path_id(request, "handoff_id", "handoff")
    state = await asyncio.to_thread(live_events.state_of, request.app[ENGINE], handoff_id)
    if state is None:
        raise NotFound(f"no handoff {handoff_id!r}")
    with _subscribed(request, handoff_topic(handoff_id)) as subscription:
        response = await _open(request)
        with contextlib.suppress(ConnectionResetError):  # the browser left during the first writes
            await _follow_handoff(
                request, response, subscription, HandoffFeed(request, login, handoff_id, state[2])
            )
    return response


async def _follow_handoff(
    request: web.Request, response: web.StreamResponse, subscription: Subscription, feed: HandoffFeed
) -> None:
    await feed.refresh(response, force=True)

    async def forward(event: LiveEvent) -> None:
        if event.kind == TYPING:
            await response.write(sse_frame(TYPING, event.data))
        else:  # a reply was just sent: show it now, not at the next read
            await feed.refresh(response, force=True)

    async def tick() -> None:
        await feed.refresh(response)

    await _pump(
        request,
        response,
        subscription,
        forward,
        tick,
        tick_seconds=HOLDER_POLL_SECONDS,
        still_allowed=_session_check(request),
    )


async def send_reply(request: web.Request) -> web.Response:
    """The reply box's fetch: the same checks and delivery as the form's POST .../reply, answered in JSON
    (``{"sent": true}``; 400 for a wrong length, 409 when the agent no longer holds it, 503 when Rasa
    does not answer), so the page does not reload.
    """
    login = await _agent(request)
    form = await require_csrf(request, login)
    text = form.get("text", "").strip()
    handoff_id, engine = inputs.path_id(request, "handoff_id", "handoff"), request.app[ENGINE]
    if not text or len(text) > views.MAX_REPLY_CHARS:
        raise InvalidRequest(views.ERRORS["reply_length"])
    stored = await asyncio.to_thread(handoffs.check_in, engine, handoff_id, login.agent.id)
    try:
        await request.app[RASA].relay(stored.conversation_id, login.agent.display_name, text)
    except RasaUnavailable as error:
        raise web.HTTPServiceUnavailable(text=views.ERRORS["reply_unsent"]) from error
    hub = request.app[LIVE]
    hub.publish(handoff_topic(handoff_id), "sent", {})
    hub.publish(conversation_topic(stored.conversation_id), TYPING, {"who": "agent", "active": False})
    return web.json_response({"sent": True})


async def agent_typing(request: web.Request) -> web.Response:
    """The agent is typing: shown in the customer's web chat (SMS and WhatsApp have no such thing)."""
    login = await _agent(request)
    form = await require_csrf(request, login)
    handoff_id = inputs.path_id(request, "handoff_id", "handoff")
    state = await asyncio.to_thread(live_events.state_of, request.app[ENGINE], handoff_id)
    if state is None:
        raise NotFound(f"no handoff {handoff_id!r}")
    status, holder, conversation = state
    if status != CLAIMED or holder != login.agent.id:
        raise Conflict("claim this handoff first: only its holder's typing is shown to the customer")
    if channel_of(conversation) != "socketio":
        return web.json_response({"shown": False, "reason": "this channel shows no typing indicator"})
    active = form.get("active", "1") != "0"
    request.app[LIVE].publish(
        conversation_topic(conversation),
        TYPING,
        {"who": "agent", "name": login.agent.display_name, "active": active},
    )
    return web.json_response({"shown": True})


# --- the web chat -----------------------------------------------------------------------------------
def _chat_conversation(request: web.Request, value: object) -> str:
    """The web conversation of a session id the Rasa server signed (as /chat/consent checks it)."""
    if not isinstance(value, str) or not payload_contract.is_id(value, MAX_SESSION_CHARS):
        raise InvalidRequest(
            f"session_id must be 1 to {MAX_SESSION_CHARS} characters without control characters"
        )
    session = verified_session(value, request.app[SETTINGS].session_key)
    if session is None:
        raise Forbidden("session_id is not a session this service issued")
    return web_conversation(session)


def _limit(request: web.Request) -> None:
    """Open to browsers: a token bucket per address (429 with Retry-After over it)."""
    request.app[LIVE_CHAT_LIMITER].take(inputs.client_address(request))


async def chat_events(request: web.Request) -> web.StreamResponse:
    _limit(request)
    conversation = _chat_conversation(request, request.query.get("session_id"))
    with _subscribed(request, conversation_topic(conversation)) as subscription:
        response = await _open(request)

        async def forward(event: LiveEvent) -> None:
            await response.write(sse_frame(event.kind, event.data))

        await _pump(request, response, subscription, forward)
    return response


async def customer_typing(request: web.Request) -> web.Response:
    """The customer is typing in the web chat: shown to the agent who holds their handoff, if any."""
    _limit(request)
    document = await inputs.json_object(request)
    conversation = _chat_conversation(request, document.get("session_id"))
    handoff_id = await asyncio.to_thread(live_events.claimed_handoff_of, request.app[ENGINE], conversation)
    if handoff_id is not None:
        active = document.get("active", True) is not False
        request.app[LIVE].publish(handoff_topic(handoff_id), TYPING, {"who": "customer", "active": active})
    return web.json_response({"shown": handoff_id is not None})
