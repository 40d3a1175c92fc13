"""Emotion processing only with the customer's consent, decided before a message is parsed.

Every customer channel of the Rasa server (REST, socket.io, SMS/WhatsApp) passes each message
through ``gated`` (after turn_guard.protected).  It works out who the customer is from what the
server verified, never from what a client claims (issue 13: a client naming ``{"customer": {"id":
"C-9001"}}`` was linked into that customer's record and could switch their emotion processing):

- the number Twilio verified, for an SMS/WhatsApp conversation (``sms:+E164``, ``whatsapp:+E164``);
- the claims of a valid identity token, which the channel wrote as ``attune.verified``
  (bot/components/verified_identity.py);
- the session: a web chat's ``web:<session>`` (a session id the server issued and signed), and a
  REST ``rest:<sender>`` only while no token is verified, so a client-chosen REST sender is never
  linked to a verified customer.

It asks the handoff service which customer that is and whether their emotions may be processed
(``POST /api/v1/customers/resolve``, an authenticated server-to-server call, handoff/privacy/customers.py)
and writes the answer into the message metadata under ``attune`` (``emotion_processing``,
``customer``, ``identities``, ``verified``, and the channel's ``client_address`` kept), replacing
anything a client sent there.
bot/components/emotion_classifier.py computes nothing for a message whose answer is not "on", so
an opted-out customer's emotions are never computed and so never reach the tracker store, the
logs or an export.  If the service cannot be reached the answer is "unknown" and nothing is
computed either: privacy first; the conversation goes on without emotion awareness.
"""

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from rasa.core.channels.channel import UserMessage

from bot.components.verified_identity import (
    CLIENT_ADDRESS_KEY,
    METADATA_KEY,
    VERIFIED_KEY,
    client_address_of,
    verified_of,
)
from handoff.shared.conversation_ids import REST, WEB, channel_of, twilio_address
from handoff.shared.identity_tokens import VerifiedCustomer

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 1.0


def identities_of(message: UserMessage, verified: VerifiedCustomer | None) -> list[dict[str, str]]:
    """The identities the server verified for this message (see the module docstring)."""
    conversation = str(message.sender_id or "")
    channel = channel_of(conversation)
    if channel != message.input_channel:  # an id of another channel (or none): nothing to vouch for
        channel = None
    found: list[dict[str, str]] = []
    address = twilio_address(conversation) if channel == "twilio" else None
    if address:
        found.append({"kind": "phone", "value": address.removeprefix("whatsapp:")})
    if verified is not None:
        found += verified.identities()
    if (channel == "socketio" and conversation.startswith(WEB)) or (
        channel == "rest" and conversation.startswith(REST) and verified is None
    ):
        found.append({"kind": "session", "value": conversation})
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


async def consent_for(
    message: UserMessage, verified: VerifiedCustomer | None = None, client: ConsentClient = _CLIENT
) -> dict[str, Any]:
    """What the gate writes under ``attune``: the customer's consent, identities and verified claims."""
    identities = identities_of(message, verified)
    proven = {VERIFIED_KEY: verified.to_dict()} if verified is not None else {}
    if not identities:
        return {"emotion_processing": "unknown", "identities": [], **proven}
    try:
        found = await client.resolve(identities)
    except Exception as error:  # any failure: do not process emotions for this message
        logger.warning("consent lookup failed, emotion processing off for this message: %s", error)
        return {"emotion_processing": "unknown", "identities": identities, **proven}
    return {**found, "identities": identities, **proven}


def gated(
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
) -> Callable[[UserMessage], Awaitable[None]]:
    """``on_new_message`` with the customer's consent written into each message's metadata first."""

    async def handle(message: UserMessage) -> None:
        metadata = dict(message.metadata) if isinstance(message.metadata, dict) else {}
        # The channel built the metadata with verified_identity.server_metadata: what is under
        # "attune" now is the server's (a client's "attune" was dropped there).
        address = client_address_of(metadata)
        attune = await consent_for(message, verified_of(metadata))
        metadata[METADATA_KEY] = {**attune, CLIENT_ADDRESS_KEY: address} if address else attune
        message.metadata = metadata
        await on_new_message(message)

    return handle
