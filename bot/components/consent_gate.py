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

The answers are cached per set of identities, and revalidated rather than resolved again
(handoff/privacy/consent_epoch.py).  The service stamps each answer with its consent epoch (the
``ETag``), a token that moves in the same transaction as anything that could change any answer:
an opt-out or opt-in through any channel or instance, a merge, its undo, an erasure.  The gate sends
the stamp back (``If-None-Match``); ``304`` means nothing changed and costs the service one read,
no write transaction.  So every message still makes one call, but a cheap one, and an opt-out
recorded anywhere is honoured by every Rasa instance from the next message, because that call
happens after it.  The cache never widens consent:

- a held answer is used only when the service confirms it (``304``), or, when the service cannot
  be asked, only if it is an opt-out ("off" stays off; a held "on" becomes "unknown" as before);
- a customer the gate holds nothing for is exactly as before (the service's answer, or "unknown").

A push from the service would save the call but leaves a window in which a message can overtake the
opt-out; a store shared with the handoff service would cross the deployables' boundary.  The cache
holds at most MAX_CACHED answers (least recently used dropped), so many senders cannot grow it.
At start-up the gate opens its connection to the service (``warm_up``, a listener the channels'
blueprints get through turn_guard.guard_server), and the service warms its own first read, so the
first messages after a start do not spend their second on a cold connection.
"""

import logging
import os
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
MAX_CACHED = 10_000
# What the service sends as ETag (handoff/privacy/consent_epoch.py); anything else is not cached.
EPOCH_TAG = re.compile(r'"([0-9a-f]{1,64})"')
CHOICES = ("on", "off")
IdentityKey = tuple[tuple[str, str], ...]


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


def key_of(identities: list[dict[str, str]]) -> IdentityKey:
    """The cache key of a set of identities (order does not change who they are)."""
    return tuple(sorted((i["kind"], i["value"]) for i in identities))


@dataclass(frozen=True)
class HeldAnswer:
    """The service's answer about a set of identities, and the consent epoch it is current for."""

    customer: str
    emotion_processing: str
    epoch: str

    def to_dict(self) -> dict[str, str]:
        return {"customer": self.customer, "emotion_processing": self.emotion_processing}


class ConsentClient:
    """Asks the handoff service (ATTUNE_HANDOFF_URL, bearer ATTUNE_HANDOFF_API_TOKEN) about a
    customer, revalidating the answers it holds (see the module docstring).
    """

    def __init__(self, max_cached: int = MAX_CACHED) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._held: OrderedDict[IdentityKey, HeldAnswer] = OrderedDict()
        self._max_cached = max_cached

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS))
        return self._session

    @staticmethod
    def _base() -> str:
        return os.environ.get("ATTUNE_HANDOFF_URL", "http://127.0.0.1:5056").rstrip("/")

    async def resolve(self, identities: list[dict[str, str]]) -> dict[str, str]:
        key = key_of(identities)
        held = self._held.get(key)
        token = os.environ.get("ATTUNE_HANDOFF_API_TOKEN", "")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if held is not None:
            headers["If-None-Match"] = f'"{held.epoch}"'
        async with self._http().post(
            f"{self._base()}/api/v1/customers/resolve", json={"identities": identities}, headers=headers
        ) as response:
            if response.status == 304 and held is not None:
                self._held.move_to_end(key)
                return held.to_dict()
            body = await response.json(content_type=None)
            if response.status != 200 or not isinstance(body, dict):
                raise RuntimeError(f"handoff service answered {response.status}: {body}")
            answer = {
                "customer": str(body["customer"]),
                "emotion_processing": str(body["emotion_processing"]),
            }
            self._hold(key, answer, response.headers.get("ETag", ""))
            return answer

    def _hold(self, key: IdentityKey, answer: dict[str, str], etag: str) -> None:
        epoch = EPOCH_TAG.fullmatch(etag.strip())
        if epoch is None or answer["emotion_processing"] not in CHOICES:
            self._held.pop(key, None)  # nothing to revalidate it with: asked in full next time
            return
        self._held[key] = HeldAnswer(answer["customer"], answer["emotion_processing"], epoch.group(1))
        self._held.move_to_end(key)
        while len(self._held) > self._max_cached:
            self._held.popitem(last=False)

    def held_opt_out(self, identities: list[dict[str, str]]) -> dict[str, str] | None:
        """The answer held for these identities when it is an opt-out: kept while the service is away
        (narrower than "unknown" never is wider; a held "on" is never used unconfirmed).
        """
        held = self._held.get(key_of(identities))
        return held.to_dict() if held is not None and held.emotion_processing == "off" else None

    async def warm_up(self) -> None:
        """Opens the keep-alive connection to the service before the first message needs it."""
        try:
            async with self._http().get(f"{self._base()}/healthz") as response:
                await response.read()
        except Exception as error:  # the first message will try again, and fail safe
            logger.warning("could not reach the handoff service at start-up: %s", error)


_CLIENT = ConsentClient()


async def warm_up(_app: object, _loop: object) -> None:
    """A Sanic ``after_server_start`` listener: the gate's connection opened on the server's loop."""
    await _CLIENT.warm_up()


async def consent_for(
    message: UserMessage, verified: VerifiedCustomer | None = None, client: ConsentClient | None = None
) -> dict[str, Any]:
    """What the gate writes under ``attune``: the customer's consent, identities and verified claims."""
    asking = client or _CLIENT
    identities = identities_of(message, verified)
    proven = {VERIFIED_KEY: verified.to_dict()} if verified is not None else {}
    if not identities:
        return {"emotion_processing": "unknown", "identities": [], **proven}
    try:
        found = await asking.resolve(identities)
    except Exception as error:  # any failure: do not process emotions for this message
        held = asking.held_opt_out(identities)
        logger.warning(
            "consent lookup failed, emotion processing off for this message%s: %s",
            " (the customer's opt-out kept)" if held else "",
            error,
        )
        if held is not None:
            return {**held, "identities": identities, **proven}
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
