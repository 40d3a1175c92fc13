"""What every customer channel of the Rasa server does around each message, and once per server.

``protected(on_new_message)`` wraps the bot for one message:

- the text is normalised first (``input_checks.clean_text``: lone surrogates, NUL and control
  characters become U+FFFD), so no message reaches NLU that the sentence encoder cannot encode;
- when handling fails anyway (the tracker store failed, the action server stayed unreachable,
  any other error) the failure is logged and the customer is told the truth,
  ``NOT_PROCESSED_TEXT``, on their own channel, instead of silence: nothing of the message was
  stored, so sending it again is safe.

``guard_server(blueprint)`` is called by each channel while Rasa builds its server (before the
model is loaded): it installs the Rasa patches, once (bot/components/rasa_patches.py
``install_rasa_patches``, the one start-up hook), caps request bodies at
``input_checks.MAX_BODY_BYTES`` through Sanic's REQUEST_MAX_SIZE, which Sanic checks against the
Content-Length of each request before reading its body (413 otherwise), and percent-decodes the
conversation ids in the HTTP API's paths (bot/components/conversation_paths.py), and, once the
server runs, opens the consent gate's connection to the handoff service (consent_gate.warm_up).
``rasa run`` with credentials.yml gets all of it; nothing needs to be passed on its command line.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from sanic import Blueprint, Sanic

from bot.components import action_retry, consent_gate, conversation_paths, tracker_store
from bot.components.input_checks import MAX_BODY_BYTES, clean_text
from bot.components.rasa_patches import install_rasa_patches

logger = logging.getLogger(__name__)

NOT_PROCESSED_TEXT = (
    "Sorry, something went wrong on our side and your message was not processed. Please send it again."
)

Handler = Callable[[UserMessage], Awaitable[Any]]


def _log_failure(message: UserMessage, error: Exception) -> None:
    who = f"conversation {message.sender_id!r} on {message.input_channel}"
    if isinstance(error, tracker_store.TrackerStoreFailure | action_retry.ActionServerUnavailable):
        logger.error("%s: message not processed: %s", who, error)
    else:
        logger.exception("%s: message not processed: the bot failed", who)


async def tell_not_processed(message: UserMessage) -> None:
    """Sends ``NOT_PROCESSED_TEXT`` to the customer; a failure to send is logged, not raised.

    Replies the REST channel collected before the failure are dropped: what the customer reads
    must agree with what was stored, which is nothing (socket.io and SMS have sent them already).
    """
    collected = message.output_channel
    if isinstance(collected, CollectingOutputChannel) and isinstance(collected.messages, list):
        collected.messages.clear()
    try:
        await message.output_channel.send_text_message(message.sender_id, NOT_PROCESSED_TEXT)
    except Exception:
        logger.exception("could not tell %r that its message was not processed", message.sender_id)


def protected(on_new_message: Handler) -> Callable[[UserMessage], Awaitable[None]]:
    """``on_new_message`` with the text normalised first and an honest reply when it fails."""

    async def handle(message: UserMessage) -> None:
        if isinstance(message.text, str):
            message.text = clean_text(message.text)
        try:
            await on_new_message(message)
        except Exception as error:
            _log_failure(message, error)
            await tell_not_processed(message)

    return handle


async def _guard_app(app: Sanic, _: object) -> None:
    app.config.REQUEST_MAX_SIZE = min(int(app.config.REQUEST_MAX_SIZE), MAX_BODY_BYTES)
    conversation_paths.install(app)


def guard_server(blueprint: Blueprint) -> Blueprint:
    """The Rasa patches (installed once), the body-size cap and the path decoding, with a
    channel's blueprint.
    """
    install_rasa_patches()
    blueprint.listener("before_server_start")(_guard_app)
    # The consent gate's connection opened before the first message needs it (consent_gate.py).
    blueprint.listener("after_server_start")(consent_gate.warm_up)
    return blueprint
