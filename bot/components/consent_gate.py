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
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput

from bot.components import rasa_speedups

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
        rasa_speedups.install()  # the server is being set up: the place for process-wide fixes
        return super().blueprint(gated(on_new_message))  # type: ignore[misc]


class ConsentSocketIOInput(ConsentGate, SocketIOInput):
    """Rasa's socket.io channel (the web chat), gated; same name, path and events."""
