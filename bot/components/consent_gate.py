"""Emotion processing only with the customer's consent, decided before a message is parsed.

Every customer channel of the Rasa server (REST, socket.io, SMS/WhatsApp) passes each message
through ``ConsentGate``.  It works out who the customer is — the number an SMS/WhatsApp message
comes from, the customer a logged-in site names in the metadata (``{"customer": {"id", "phone",
"email"}}``), and the chat session — asks the handoff service which customer that is and whether
their emotions may be processed (``POST /api/v1/customers/resolve``, handoff/customers.py), and
writes the answer into the message metadata under ``attune``, replacing anything a client sent
there.  bot/components/emotion_classifier.py computes nothing for a message whose answer is not
"on", so an opted-out customer's emotions are never computed and so never reach the tracker store,
the logs or an export.  If the service cannot be reached the answer is "unknown" and nothing is
computed either: privacy first; the conversation goes on without emotion awareness.
"""

import functools
import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from socketio import AsyncServer

from bot.components.input_checks import InvalidInput, check_id, check_metadata, check_text
from bot.components.turn_guard import guard_server, protected

logger = logging.getLogger(__name__)

METADATA_KEY = "attune"
TIMEOUT_SECONDS = 1.0
SESSION_CHANNELS = ("rest", "socketio")


def identities_of(message: UserMessage) -> list[dict[str, str]]:
    """The identities a trusted source asserts for this message (see handoff/customers.py)."""
    found: list[dict[str, str]] = []
    sender = str(message.sender_id or "")
    if message.input_channel == "twilio" and sender:
        found.append({"kind": "phone", "value": sender.removeprefix("whatsapp:")})
    metadata = message.metadata if isinstance(message.metadata, dict) else {}
    site = metadata.get("customer")
    if isinstance(site, dict):
        for key, kind in (("id", "id"), ("phone", "phone"), ("email", "email")):
            value = site.get(key)
            if isinstance(value, str) and value.strip():
                found.append({"kind": kind, "value": value.strip()})
    if message.input_channel in SESSION_CHANNELS and sender:
        found.append({"kind": "session", "value": sender})
    return found


class ConsentClient:
    """Asks the handoff service (ATTUNE_HANDOFF_URL, bearer ATTUNE_HANDOFF_API_TOKEN) about a customer."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def resolve(self, identities: list[dict[str, str]]) -> dict[str, str]:
        base = os.environ.get("ATTUNE_HANDOFF_URL", "http://127.0.0.1:5056").rstrip("/")
        token = os.environ.get("ATTUNE_HANDOFF_API_TOKEN", "")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self._session.post(
            f"{base}/api/v1/customers/resolve", json={"identities": identities}, headers=headers
        ) as response:
            body = await response.json(content_type=None)
            if response.status != 200 or not isinstance(body, dict):
                raise RuntimeError(f"handoff service answered {response.status}: {body}")
            return {"customer": str(body["customer"]), "emotion_processing": str(body["emotion_processing"])}


_CLIENT = ConsentClient()


async def consent_for(message: UserMessage, client: ConsentClient = _CLIENT) -> dict[str, Any]:
    identities = identities_of(message)
    if not identities:
        return {"emotion_processing": "unknown", "identities": []}
    try:
        found = await client.resolve(identities)
    except Exception as error:  # any failure: do not process emotions for this message
        logger.warning("consent lookup failed, emotion processing off for this message: %s", error)
        return {"emotion_processing": "unknown", "identities": identities}
    return {**found, "identities": identities}


@functools.lru_cache(maxsize=1)
def mask_logs() -> None:
    """Masks personal data in the Rasa server's log lines (phone numbers are SMS sender ids), once."""
    from handoff.masking import MaskingFilter

    masking = MaskingFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(masking)


def gated(
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
) -> Callable[[UserMessage], Awaitable[None]]:
    """``on_new_message`` with the customer's consent written into each message's metadata first."""

    async def handle(message: UserMessage) -> None:
        mask_logs()
        metadata = dict(message.metadata) if isinstance(message.metadata, dict) else {}
        metadata[METADATA_KEY] = await consent_for(message)
        message.metadata = metadata
        await on_new_message(message)

    return handle


class ConsentGate:
    """Mixin for input channels whose base class builds the blueprint (a channel that defines its
    own ``blueprint`` calls ``gated`` itself, as bot/components/twilio_channel.py does)."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Any:
        # Text normalised and failures answered honestly (turn_guard.py), then the consent gate.
        return guard_server(super().blueprint(protected(gated(on_new_message))))  # type: ignore[misc]


# The event a socket.io client gets instead of an answer when what it sent is refused:
# {"error": "bad_request", "detail": "<why>"} (also the acknowledgement, when the client asks for one).
INPUT_ERROR_EVENT = "input_error"


def _refusal(detail: str) -> dict[str, str]:
    return {"error": "bad_request", "detail": detail}


class ConsentSocketIOInput(ConsentGate, SocketIOInput):
    """Rasa's socket.io channel (the web chat), gated; same name, path and events.

    Rasa's handlers of ``session_request`` and of the user's message take any ``session_id`` a
    client names and any message shape; these replace them and check both first
    (bot/components/input_checks.py), answering a refusal with INPUT_ERROR_EVENT to that client
    alone, before anything reaches the tracker store.
    """

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Any:
        webhook = super().blueprint(on_new_message)
        assert self.sio is not None  # set by SocketIOInput.blueprint
        self._check_inputs(self.sio, protected(gated(on_new_message)))
        return webhook

    def _session_id(self, data: object) -> str:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidInput('session_request data must be an object: {"session_id": "..."}')
        session_id = data.get("session_id")
        return uuid.uuid4().hex if session_id is None else check_id(session_id, "session_id")

    def _message(self, sio: AsyncServer, sid: str, data: object) -> UserMessage:
        if not isinstance(data, dict):
            raise InvalidInput('the message must be an object: {"message": "...", "session_id": "..."}')
        sender = check_id(data.get("session_id"), "session_id") if self.session_persistence else sid
        metadata = data.get(self.metadata_key)
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except (ValueError, RecursionError) as error:
                raise InvalidInput(f"'{self.metadata_key}' is a string but not JSON: {error}") from None
        return UserMessage(
            check_text(data.get("message", ""), "message"),
            SocketIOOutput(sio, self.bot_message_evt),
            sender,
            input_channel=self.name(),
            metadata=check_metadata(metadata, self.metadata_key),
        )

    def _check_inputs(self, sio: AsyncServer, handle: Callable[[UserMessage], Awaitable[None]]) -> None:
        async def refuse(sid: str, error: InvalidInput) -> dict[str, str]:
            logger.info("socket.io client %s refused: %s", sid, error)
            await sio.emit(INPUT_ERROR_EVENT, _refusal(str(error)), room=sid, namespace=self.namespace)
            return _refusal(str(error))

        async def session_request(sid: str, data: object = None, *_: object) -> dict[str, str] | None:
            try:
                session_id = self._session_id(data)
            except InvalidInput as error:
                return await refuse(sid, error)
            if self.session_persistence:
                sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)
            return None

        async def user_message(sid: str, data: object = None, *_: object) -> dict[str, str] | None:
            try:
                message = self._message(sio, sid, data)
            except InvalidInput as error:
                return await refuse(sid, error)
            await handle(message)
            return None

        sio.on("session_request", session_request, namespace=self.namespace)
        sio.on(self.user_message_evt, user_message, namespace=self.namespace)
