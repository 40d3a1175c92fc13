"""The web chat: Rasa's socket.io channel, with sessions the server issues and identities it verifies.

Same name (``socketio``), path (``/socket.io``) and events as Rasa's channel, so the chat page, the
rasa-webchat widget and python-socketio clients work unchanged.  What Rasa's channel trusted, and
what this one does instead (issue 13):

- **Sessions.**  Rasa confirmed any ``session_id`` a client named and put the socket in that room,
  so a client could read another customer's chat.  Here ``session_request {"session_id"?}``
  re-joins a session only when the id is one this server signed (``<32 hex>.<signature>``,
  handoff/shared/identity_tokens.py, key ATTUNE_SESSION_KEY); anything else gets a new signed id.  It is
  answered ``session_confirm`` with the signed id (a string, as Rasa does; rasa-webchat stores it
  and sends it back).  The conversation is ``web:<session>`` and so is the room.
- **Messages.**  ``user_uttered`` is handled in the conversation the socket was confirmed in,
  remembered server-side; one before any ``session_request``, or naming another ``session_id``,
  is refused (no ``session_id`` at all is fine).
- **Identity.**  An identity token (ATTUNE_IDENTITY_KEY) comes in the CONNECT ``auth: {"token"}``,
  or as ``identity_token`` in the ``customData`` or ``metadata`` object of ``session_request`` or
  ``user_uttered``; rasa-webchat can send only ``customData``, so it is read as metadata too.
  Its claims become ``attune.verified`` (bot/components/verified_identity.py); an invalid token is
  anonymous, not an error.
- **Address.**  Every message carries ``attune.client_address``: the socket's TCP peer at CONNECT,
  or the client a proxy in ATTUNE_TRUSTED_PROXIES forwarded for (handoff/shared/client_addresses.py).
- **Origins.**  A browser page from an origin outside ATTUNE_CORS_ORIGINS (default: the handoff
  service's web chat page) cannot connect; clients that send no ``Origin`` (not a browser) can.
- **Input.**  Ids, text and metadata are checked first (bot/components/input_checks.py); a refusal
  is the event ``input_error`` ``{"error": "bad_request", "detail": ...}`` to that client alone
  (also the acknowledgement, when the client asks for one), before anything reaches the store.
"""

import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput, SocketIOOutput
from sanic import Blueprint
from socketio import AsyncServer
from socketio.exceptions import ConnectionRefusedError as ConnectionRefused

from bot.components.client_address import configured_trusted_proxies
from bot.components.consent_gate import gated
from bot.components.input_checks import InvalidInput, check_id, check_metadata, check_text
from bot.components.turn_guard import guard_server, protected
from bot.components.verified_identity import (
    IDENTITY_KEY_VARIABLE,
    SESSION_KEY_VARIABLE,
    configured_key,
    server_metadata,
    token_in,
    verified_customer,
)
from handoff.shared.client_addresses import NO_TRUSTED_PROXIES, TrustedProxies
from handoff.shared.conversation_ids import web_conversation
from handoff.shared.identity_tokens import issue_session_id, verified_session

logger = logging.getLogger(__name__)

INPUT_ERROR_EVENT: Final = "input_error"
CUSTOM_DATA_KEY: Final = "customData"  # what rasa-webchat sends the site's data as
DEFAULT_HANDOFF_URL: Final = "http://127.0.0.1:5056"
LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost")

# What the server remembers per socket (python-socketio's per-sid session).
_AUTH_TOKEN: Final = "auth_token"  # from CONNECT auth
_SESSION_TOKEN: Final = "session_token"  # from session_request
_CONVERSATION: Final = "conversation"
_SIGNED: Final = "signed_session_id"
_CLIENT_ADDRESS: Final = "client_address"  # from the CONNECT request


def default_origins(handoff_url: str) -> list[str]:
    """The web chat page's origin (the handoff service), under both loopback names when on loopback."""
    parts = urlsplit(handoff_url)
    if not parts.scheme or not parts.hostname:
        return []
    port = f":{parts.port}" if parts.port else ""
    hosts = LOOPBACK_NAMES if parts.hostname in LOOPBACK_NAMES else (parts.hostname,)
    return [f"{parts.scheme}://{host}{port}" for host in hosts]


def allowed_origins(environ: Mapping[str, str]) -> list[str]:
    """ATTUNE_CORS_ORIGINS (space-separated), or the handoff service's origins when it is unset."""
    configured = environ.get("ATTUNE_CORS_ORIGINS", "").split()
    return configured or default_origins(environ.get("ATTUNE_HANDOFF_URL", DEFAULT_HANDOFF_URL))


def _refusal(detail: str) -> dict[str, str]:
    return {"error": "bad_request", "detail": detail}


def _object(value: object, field: str) -> dict[str, Any]:
    """A client's metadata object (Rasa accepts it as a JSON string too), checked."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError) as error:
            raise InvalidInput(f"'{field}' is a string but not JSON: {error}") from None
    return check_metadata(value, field) or {}


def client_metadata(data: Mapping[str, Any], metadata_key: str) -> dict[str, Any]:
    """``customData`` and ``metadata`` of an event, merged (metadata wins), within the limits."""
    custom = _object(data.get(CUSTOM_DATA_KEY), CUSTOM_DATA_KEY)
    merged = {**custom, **_object(data.get(metadata_key), metadata_key)}
    return check_metadata(merged, metadata_key) or {}


def _event_data(data: object, event: str, shape: str) -> dict[str, Any]:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InvalidInput(f"{event} data must be an object: {shape}")
    return data


class WebChatInput(SocketIOInput):
    """The web chat channel (see the module docstring)."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        given = credentials or {}
        return cls(
            session_key=configured_key(given, "session_key", SESSION_KEY_VARIABLE, required=True),
            identity_key=configured_key(given, "identity_key", IDENTITY_KEY_VARIABLE, required=False),
            origins=allowed_origins(os.environ),
            trusted_proxies=configured_trusted_proxies(os.environ),
            user_message_evt=given.get("user_message_evt", "user_uttered"),
            bot_message_evt=given.get("bot_message_evt", "bot_uttered"),
            socketio_path=given.get("socketio_path", "/socket.io"),
        )

    def __init__(
        self,
        session_key: str,
        identity_key: str = "",
        origins: list[str] | None = None,
        user_message_evt: str = "user_uttered",
        bot_message_evt: str = "bot_uttered",
        socketio_path: str = "/socket.io",
        trusted_proxies: TrustedProxies = NO_TRUSTED_PROXIES,
    ) -> None:
        # Sessions are always persistent: the room is the conversation, not the socket.
        super().__init__(user_message_evt, bot_message_evt, None, True, socketio_path)
        self.session_key = session_key
        self.identity_key = identity_key
        self.origins = list(origins or [])
        self.trusted_proxies = trusted_proxies

    def client_address(self, environ: Mapping[str, Any]) -> str | None:
        """The address of the client behind a CONNECT (engine.io's environ holds Sanic's request:
        its REMOTE_ADDR is always 127.0.0.1).
        """
        request = environ.get("sanic.request")
        forwarded = environ.get("HTTP_X_FORWARDED_FOR")  # engine.io joins repeated headers with ","
        return self.trusted_proxies.client_address(
            getattr(request, "ip", None), [forwarded] if isinstance(forwarded, str) else []
        )

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = guard_server(super().blueprint(on_new_message))
        assert self.sio is not None  # set by SocketIOInput.blueprint
        # Text normalised and failures answered honestly (turn_guard.py), then the consent gate.
        self._serve(self.sio, protected(gated(on_new_message)))
        return webhook

    def _serve(self, sio: AsyncServer, handle: Callable[[UserMessage], Awaitable[None]]) -> None:
        """Replaces Rasa's handlers of connect, session_request and the user's message."""

        async def refuse(sid: str, error: InvalidInput) -> dict[str, str]:
            logger.info("socket.io client %s refused: %s", sid, error)
            await sio.emit(INPUT_ERROR_EVENT, _refusal(str(error)), room=sid, namespace=self.namespace)
            return _refusal(str(error))

        async def connect(sid: str, environ: dict[str, Any], auth: object = None) -> bool:
            origin = environ.get("HTTP_ORIGIN")
            if origin and origin not in self.origins:
                logger.warning("socket.io connection from origin %r refused (ATTUNE_CORS_ORIGINS)", origin)
                raise ConnectionRefused(f"origin {origin} is not allowed")
            token = auth.get("token") if isinstance(auth, dict) else None
            state = {_AUTH_TOKEN: token, _CLIENT_ADDRESS: self.client_address(environ)}
            await sio.save_session(sid, state, namespace=self.namespace)
            return True

        async def session_request(sid: str, data: object = None, *_: object) -> dict[str, str] | None:
            try:
                signed, metadata = self._session_request(data)
            except InvalidInput as error:
                return await refuse(sid, error)
            await self._confirm(sio, sid, signed, token_in(metadata))
            return None

        async def user_message(sid: str, data: object = None, *_: object) -> dict[str, str] | None:
            try:
                message = self._message(sio, await sio.get_session(sid, namespace=self.namespace), data)
            except InvalidInput as error:
                return await refuse(sid, error)
            await handle(message)
            return None

        sio.on("connect", connect, namespace=self.namespace)
        sio.on("session_request", session_request, namespace=self.namespace)
        sio.on(self.user_message_evt, user_message, namespace=self.namespace)

    def _session_request(self, data: object) -> tuple[str, dict[str, Any]]:
        """The signed session id to confirm (the one asked for when it is ours, else a new one)."""
        request = _event_data(data, "session_request", '{"session_id": "..."}')
        metadata = client_metadata(request, self.metadata_key or "metadata")
        asked = request.get("session_id")
        if asked is not None:
            check_id(asked, "session_id")
            if verified_session(asked, self.session_key) is not None:
                return str(asked), metadata
            logger.info("session_request for a session this server did not issue: a new one is issued")
        return issue_session_id(self.session_key), metadata

    async def _confirm(self, sio: AsyncServer, sid: str, signed: str, token: str | None) -> None:
        session = verified_session(signed, self.session_key)
        assert session is not None  # _session_request returns only ids this server signed
        conversation = web_conversation(session)
        async with sio.session(sid, namespace=self.namespace) as state:
            previous = state.get(_CONVERSATION)
            if previous and previous != conversation:
                sio.leave_room(sid, previous, namespace=self.namespace)
            sio.enter_room(sid, conversation, namespace=self.namespace)
            state.update({_CONVERSATION: conversation, _SIGNED: signed})
            if token is not None:
                state[_SESSION_TOKEN] = token
        await sio.emit("session_confirm", signed, room=sid, namespace=self.namespace)

    def _message(self, sio: AsyncServer, state: Mapping[str, Any], data: object) -> UserMessage:
        if not isinstance(data, dict):
            raise InvalidInput('the message must be an object: {"message": "...", "session_id": "..."}')
        conversation = state.get(_CONVERSATION)
        if not conversation:
            raise InvalidInput("no session: send session_request first")
        named = data.get("session_id")
        if named is not None and named != state.get(_SIGNED):
            raise InvalidInput("'session_id' is not this connection's session: send session_request for it")
        text = check_text(data.get("message", ""), "message")
        metadata = client_metadata(data, self.metadata_key or "metadata")
        tokens = [token_in(metadata), state.get(_SESSION_TOKEN), state.get(_AUTH_TOKEN)]
        return UserMessage(
            text,
            SocketIOOutput(sio, self.bot_message_evt),
            conversation,
            input_channel=self.name(),
            metadata=server_metadata(
                metadata, verified_customer(tokens, self.identity_key), state.get(_CLIENT_ADDRESS)
            ),
        )
