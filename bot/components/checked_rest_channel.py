"""Rasa's REST channel, with the request checked before it reaches the bot.

The stock channel answers a JSON list with a 500 and a message that is not a string with an
empty 200, and takes any sender id and metadata.  This one answers every malformed request with a
400 that says what is wrong (the rules: bot/components/input_checks.py), and keeps the URL
customers and tests already use: ``/webhooks/rest/webhook``.  Every message passes the consent
gate (bot/components/consent_gate.py) first.
"""

from typing import Any

from rasa.core.channels.rest import RestInput
from sanic.exceptions import SanicException
from sanic.request import Request

from bot.components.consent_gate import ConsentGate
from bot.components.input_checks import InvalidInput, check_id, check_metadata, check_text


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
        # Rasa takes "input_channel" from the body; the channel is what the server saw, not what a
        # client claims (the consent gate trusts a "twilio" sender as a verified phone number).
        return self.name()

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        try:
            return check_metadata(_body(request).get("metadata"))
        except InvalidInput as error:
            raise BadRestRequest(str(error)) from None
