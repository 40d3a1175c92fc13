"""A web chat customer for the integration tests: Rasa's socket.io channel through python-socketio.

``web_chat(stack)`` connects as the chat page does (optionally with an identity token in the CONNECT
auth, or from another page's Origin) and queues every event the server sends to this client.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import socketio

from tests.support.stack import RunningStack

INPUT_ERROR = "input_error"  # bot/components/consent_gate.py INPUT_ERROR_EVENT
EVENTS = ("session_confirm", "bot_uttered", INPUT_ERROR)
REPLY_TIMEOUT = 120.0


@dataclass
class WebChat:
    client: socketio.AsyncClient
    events: "asyncio.Queue[tuple[str, Any]]"
    disconnected: asyncio.Event

    async def next_event(self, timeout: float = REPLY_TIMEOUT) -> tuple[str, Any]:
        """The next event, or ("disconnect", None) when the server closed the connection."""
        waiting = asyncio.ensure_future(self.events.get())
        closed = asyncio.ensure_future(self.disconnected.wait())
        done, pending = await asyncio.wait(
            {waiting, closed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        if waiting in done:
            return waiting.result()
        if closed in done:
            return ("disconnect", None)
        raise AssertionError(f"no event within {timeout:.0f} s")

    async def start(self, session_id: str | None = None, **extra: Any) -> str:
        """Asks for a session (a stored one, or a new one) and returns the signed id the server gave."""
        request = {"session_id": session_id} if session_id is not None else {}
        await self.client.emit("session_request", {**request, **extra})
        event, data = await self.next_event()
        assert event == "session_confirm", (event, data)
        return str(data["session_id"] if isinstance(data, dict) else data)

    async def say(self, text: str, **extra: Any) -> None:
        await self.client.emit("user_uttered", {"message": text, **extra})

    async def replies(self, quiet: float = 3.0) -> list[Any]:
        """Everything the server sends until it has been quiet for ``quiet`` seconds."""
        received = []
        while True:
            try:
                received.append(await self.next_event(timeout=quiet))
            except AssertionError:
                return received


@contextlib.asynccontextmanager
async def web_chat(
    stack: RunningStack, token: str | None = None, origin: str | None = None
) -> AsyncIterator[WebChat]:
    client = socketio.AsyncClient(reconnection=False)
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    disconnected = asyncio.Event()
    for name in EVENTS:
        client.on(name, lambda data, name=name: events.put_nowait((name, data)))
    client.on("disconnect", disconnected.set)
    await client.connect(
        stack.rasa_url,
        socketio_path="/socket.io",
        transports=["websocket"],
        auth={"token": token} if token else None,
        headers={"Origin": origin} if origin else {},
    )
    try:
        yield WebChat(client, events, disconnected)
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()


async def wait_for(condition: Any, timeout: float = 30.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await asyncio.sleep(every)
    raise AssertionError("timed out waiting")


class ChatCustomer:
    """A customer in the web chat who waits for a reply with given text (``say(text, expect)``).

    The server issues the session (``session_id``, signed); its conversation is ``conversation_id``
    (``web:<session>``).  A logged-in customer comes with a site's identity token (``token``).
    """

    def __init__(self, stack: RunningStack, token: str | None = None) -> None:
        self.stack = stack
        self.token = token
        self.session_id = ""
        self.client = socketio.AsyncClient()
        self.replies: list[str] = []
        self.confirmed: asyncio.Queue[str] = asyncio.Queue()
        self.client.on("bot_uttered", lambda data: self.replies.append(str(data.get("text", ""))))
        self.client.on("session_confirm", lambda signed: self.confirmed.put_nowait(str(signed)))

    @property
    def conversation_id(self) -> str:
        return "web:" + self.session_id.split(".")[0]

    async def __aenter__(self) -> "ChatCustomer":
        await self.client.connect(
            self.stack.rasa_url,
            socketio_path="/socket.io",
            transports=["websocket"],
            auth={"token": self.token} if self.token else None,
        )
        await self.client.emit("session_request", {})
        self.session_id = await asyncio.wait_for(self.confirmed.get(), timeout=30)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.client.disconnect()

    async def say(self, text: str, expect: str) -> str:
        """Sends a message and returns the first reply containing ``expect``."""
        seen = len(self.replies)
        await self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})

        def found() -> str | None:
            return next((r for r in self.replies[seen:] if expect in r), None)

        try:
            return str(await wait_for(found, timeout=60))
        except AssertionError:
            raise AssertionError(f"no reply with {expect!r} to {text!r}; got {self.replies[seen:]}") from None
