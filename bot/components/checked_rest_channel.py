"""Rasa's REST channel, with the request checked, the conversation namespaced and replies it missed.

``POST /webhooks/rest/webhook`` with ``{"sender": str, "message": str, "metadata": object?}`` and,
optionally, ``Authorization: Bearer <identity token>`` (bot/components/verified_identity.py).

- Every malformed request is a 400 that says what is wrong (the rules: bot/components/input_checks.py);
  the stock channel answered a JSON list with a 500 and a non-string message with an empty 200.
- The conversation is ``rest:<sender>`` (handoff/shared/conversation_ids.py): a REST client whose sender
  is an SMS customer's number gets a conversation of its own, not theirs.  The replies still carry
  ``recipient_id`` = the sender the client sent (clients match on it).
- The channel is what the server saw, never the body's ``input_channel``; the client's metadata
  loses ``attune``/``customer``/``identity_token`` and gains the verified token's claims and the
  client's address (``attune.client_address``: the TCP peer, or the client a proxy in
  ATTUNE_TRUSTED_PROXIES forwarded for; handoff/shared/client_addresses.py).
- REST cannot push: what was sent to the conversation out of turn since the customer's previous
  reply (an agent's messages and the handoff's notices, through ``/execute``) comes first in the
  response to their next message (``out_of_turn``).  Rasa's ``?stream=true`` is refused, since
  it could not put them first.
- Every message passes the consent gate (bot/components/consent_gate.py).
"""

import logging
import os
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, UserUttered
from sanic import Blueprint, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.components.client_address import configured_trusted_proxies
from bot.components.consent_gate import gated
from bot.components.input_checks import InvalidInput, check_id, check_metadata, check_text
from bot.components.turn_guard import guard_server, protected
from bot.components.verified_identity import (
    IDENTITY_KEY_VARIABLE,
    bearer_token,
    configured_key,
    server_metadata,
    verified_customer,
)
from handoff.shared.client_addresses import FORWARDED_FOR_HEADER, NO_TRUSTED_PROXIES, TrustedProxies
from handoff.shared.conversation_ids import rest_conversation

logger = logging.getLogger(__name__)


class BadRestRequest(SanicException):
    status_code = 400
    quiet = True


def _body(request: Request) -> dict[str, Any]:
    body = request.json  # sanic answers 400 itself when the body is not JSON at all
    if not isinstance(body, dict):
        raise BadRestRequest('body must be a JSON object: {"sender": "...", "message": "..."}')
    return body


def out_of_turn(events: Sequence[Event], message_id: str | None) -> list[BotUttered]:
    """What the bot said between the customer's previous turn and their message ``message_id``.

    A turn the bot finishes ends with ``action_listen``; anything it utters after that and before
    the customer's next message was sent out of turn (handoff/core/rasa_client.py ends those with
    ``action_listen`` too).  Nothing when the message is not in ``events`` (it was not stored).
    """
    found = list(events)
    mine = next(
        (i for i in range(len(found) - 1, -1, -1) if isinstance(found[i], UserUttered)
         and found[i].message_id == message_id),
        None,
    )  # fmt: skip
    if mine is None:
        return []
    previous = next((i for i in range(mine - 1, -1, -1) if isinstance(found[i], UserUttered)), -1)
    listened = next(
        (i for i in range(previous + 1, mine) if isinstance(found[i], ActionExecuted)
         and found[i].action_name == ACTION_LISTEN_NAME),
        None,
    )  # fmt: skip
    if listened is None:
        return []
    return [event for event in found[listened + 1 : mine] if isinstance(event, BotUttered)]


def as_reply(event: BotUttered, recipient_id: str) -> dict[str, Any]:
    """A bot event as the REST channel answers it (CollectingOutputChannel's shape)."""
    data = event.data or {}
    reply: dict[str, Any] = CollectingOutputChannel._message(
        recipient_id,
        text=event.text,
        image=data.get("image"),
        buttons=data.get("buttons"),
        attachment=data.get("attachment"),
        custom=data.get("custom"),
    )
    return reply


class RestReplies(CollectingOutputChannel):
    """Collects the replies to one request, addressed to the sender the client sent."""

    def __init__(self, client_sender: str) -> None:
        super().__init__()
        self.client_sender = client_sender

    async def _persist_message(self, message: dict[str, Any]) -> None:
        await super()._persist_message({**message, "recipient_id": self.client_sender})


async def missed_replies(request: Request, message: UserMessage, client_sender: str) -> list[dict[str, Any]]:
    """The out-of-turn messages to put first in this response, read from the conversation's tracker."""
    agent = getattr(request.app.ctx, "agent", None)
    store = getattr(agent, "tracker_store", None)
    if store is None:  # no Rasa agent on this app (a channel served alone)
        return []
    try:
        tracker = await store.retrieve(message.sender_id)
    except Exception:  # the turn was answered; what it missed comes with the next one
        logger.exception("could not read conversation %r for the messages it missed", message.sender_id)
        return []
    if tracker is None:
        return []
    return [as_reply(event, client_sender) for event in out_of_turn(tracker.events, message.message_id)]


class CheckedRestInput(RestInput):
    """POST /webhooks/rest/webhook (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> "CheckedRestInput":
        return cls(
            configured_key(credentials, "identity_key", IDENTITY_KEY_VARIABLE, required=False),
            configured_trusted_proxies(os.environ),
        )

    def __init__(self, identity_key: str = "", trusted_proxies: TrustedProxies = NO_TRUSTED_PROXIES) -> None:
        # Empty: no site signs identity tokens; every REST customer is anonymous.
        self.identity_key = identity_key
        self.trusted_proxies = trusted_proxies

    async def _extract_sender(self, req: Request) -> str | None:
        try:
            return check_id(_body(req).get("sender"), "sender")
        except InvalidInput as error:
            raise BadRestRequest(str(error)) from None

    def _extract_message(self, req: Request) -> str | None:
        try:
            return check_text(_body(req).get("message"), "message")
        except InvalidInput as error:
            raise BadRestRequest(str(error)) from None

    def _extract_input_channel(self, req: Request) -> str:
        # Rasa takes "input_channel" from the body; the channel is what the server saw.
        return self.name()

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        try:
            client = check_metadata(_body(request).get("metadata"))
        except InvalidInput as error:
            raise BadRestRequest(str(error)) from None
        token = bearer_token(request.headers.get("Authorization"))
        address = self.trusted_proxies.client_address(
            request.ip, request.headers.getall(FORWARDED_FOR_HEADER, [])
        )
        return server_metadata(client, verified_customer([token], self.identity_key), address)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = guard_server(Blueprint(f"custom_webhook_{type(self).__name__}", __name__))
        # Text normalised and failures answered honestly (turn_guard.py), then the consent gate.
        handle = protected(gated(on_new_message))

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            sender = await self._extract_sender(request)
            assert sender is not None  # _extract_sender refuses anything else
            text = self._extract_message(request)
            metadata = self.get_metadata(request)
            if request.args.get("stream", "false").lower() != "false":
                raise BadRestRequest("stream=true is not supported: replies come in one response")
            replies = RestReplies(sender)
            message = UserMessage(
                text, replies, rest_conversation(sender), input_channel=self.name(), metadata=metadata
            )
            await handle(message)  # a failure is logged and answered there
            missed = await missed_replies(request, message, sender)
            return response.json(missed + replies.messages)

        return webhook
