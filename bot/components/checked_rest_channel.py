"""Rasa's REST channel, with the request checked before it reaches the bot.

The stock channel answers a JSON list with a 500 and a message that is not a string with an
empty 200.  This one answers every malformed request with a 400 that says what is wrong, and
keeps the URL customers and tests already use: ``/webhooks/rest/webhook``.  Every message passes
the consent gate (bot/components/consent_gate.py) first.
"""

from typing import Any

from rasa.core.channels.rest import RestInput
from sanic.exceptions import SanicException
from sanic.request import Request

from bot.components.consent_gate import ConsentGate

MAX_SENDER_CHARS = 256
# Generous (a pasted e-mail thread is ~20 KB); beyond it the client is not a person typing.
MAX_MESSAGE_CHARS = 200_000


class BadRestRequest(SanicException):
    status_code = 400
    quiet = True


def _body(request: Request) -> dict[str, Any]:
    body = request.json  # sanic answers 400 itself when the body is not JSON at all
    if not isinstance(body, dict):
        raise BadRestRequest('body must be a JSON object: {"sender": "...", "message": "..."}')
    return body


class CheckedRestInput(ConsentGate, RestInput):
    """POST /webhooks/rest/webhook with ``{"sender": str, "message": str, "metadata": object?}``."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    async def _extract_sender(self, req: Request) -> str | None:
        sender = _body(req).get("sender")
        if not isinstance(sender, str) or not sender.strip() or len(sender) > MAX_SENDER_CHARS:
            raise BadRestRequest(
                f"'sender' must be a non-empty string of at most {MAX_SENDER_CHARS} characters"
            )
        return sender

    def _extract_message(self, req: Request) -> str | None:
        message = _body(req).get("message")
        if not isinstance(message, str):
            raise BadRestRequest("'message' must be a string (it may be empty)")
        if len(message) > MAX_MESSAGE_CHARS:
            raise BadRestRequest(f"'message' is longer than {MAX_MESSAGE_CHARS} characters")
        return message

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        metadata = _body(request).get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise BadRestRequest("'metadata' must be a JSON object when given")
        return metadata
