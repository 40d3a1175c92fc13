"""SMS and WhatsApp through Twilio: Rasa's Twilio channel with the request checked and replies sent once.

Rasa's own channel (rasa/core/channels/twilio.py) accepts unsigned requests, crashes on a message
without ``Body``, re-raises the bot's errors as a 500 and re-sends a reply up to five times over
Twilio's default HTTP client.  This one keeps its URL, ``/webhooks/twilio/webhook``, and its channel
name, ``twilio``, and:

- answers 503, naming the variables to set, while Twilio is not configured (``make run`` starts without it);
- checks ``X-Twilio-Signature`` against ATTUNE_PUBLIC_RASA_URL + the path Twilio called, and answers
  403 otherwise;
- answers 400 when ``From`` or ``Body`` is missing (a WhatsApp location has Latitude/Longitude instead),
  or when ``From`` is not a usable conversation id or ``Body`` is too long (bot/components/input_checks.py);
- keeps the conversation under the number Twilio verified, namespaced (handoff/shared/conversation_ids.py):
  ``sms:+E164`` for SMS, ``whatsapp:+E164`` for WhatsApp, so no other channel's client can name it;
  replies (and the agent's messages, sent with ``output_channel=twilio``) go to ``twilio_address``
  of the conversation: the number again;
- handles each message once: the ``MessageSid`` is claimed first in the tracker store's database
  and marked handled when the turn is over (bot/components/message_receipts.py), and a webhook whose
  sid was handled or is being handled (a captured request replayed, or Twilio retrying) gets 200
  with empty TwiML and is not handled again, across restarts and across Rasa servers; only a sid
  whose turn died with its process, and long enough ago, is handled again; a webhook without a sid
  is a 400, and 503 when the database is down;
- sends each reply once, off the event loop, through handoff.shared.twilio_http.TwilioHttp (the same Twilio
  as the handoff service, ATTUNE_TWILIO_API_BASE, no retries), and logs a failure instead of raising
  it, so an ``/execute`` to an SMS conversation (an agent joining, writing, leaving) never fails;
- sends of a response's ``custom`` payload only what Twilio's Messages API takes (``body``,
  ``media_url``, ...): the web chat's ``data`` of a handoff notice went to ``messages.create(data=...)``
  as a TypeError, the 500 undid every SMS/WhatsApp claim (issue 14).  domain.yml renders those
  notices per channel; a payload with nothing Twilio can send is skipped.
"""

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from multidict import MultiDict
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.twilio import TwilioInput, TwilioOutput
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.components.consent_gate import gated
from bot.components.input_checks import InvalidInput, check_id, check_text
from bot.components.message_receipts import (
    IN_FLIGHT,
    TAKEN_OVER,
    TO_HANDLE,
    MessageReceipts,
    ReceiptsUnavailable,
)
from bot.components.turn_guard import guard_server, protected
from handoff.shared.conversation_ids import twilio_address, twilio_conversation
from handoff.shared.twilio_http import TwilioHttp

logger = logging.getLogger(__name__)

WHATSAPP = "whatsapp:"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# "Received, no reply in this response": the bot's replies go out through the Messages API instead.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# A message's id: "SM" (or "MM") and 32 hex digits.
MESSAGE_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
# What a response's custom payload may give Twilio's messages.create (the recipient is always the
# conversation's number); a message needs one of CONTENT_FIELDS.
MESSAGE_FIELDS = (
    "body", "media_url", "content_sid", "content_variables", "persistent_action", "from_",
    "messaging_service_sid",
)  # fmt: skip
CONTENT_FIELDS = ("body", "media_url", "content_sid")


class TwilioChannelError(RasaException):
    """credentials.yml holds a value the channel cannot use; the message names the variable."""


class BadTwilioRequest(ValueError):
    """The webhook form cannot become a user message; the message says why."""


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _http_url(name: str, value: str) -> str:
    if value and not value.startswith(("http://", "https://")):
        raise TwilioChannelError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


@dataclass(frozen=True)
class TwilioChannelSettings:
    """The channel's credentials.yml entry; every value comes from the environment variable named."""

    account_sid: str = ""  # TWILIO_ACCOUNT_SID
    auth_token: str = ""  # TWILIO_AUTH_TOKEN
    number: str = ""  # TWILIO_FROM_NUMBER: SMS replies come from it
    whatsapp_number: str = ""  # TWILIO_WHATSAPP_NUMBER: WhatsApp replies (default: the number above)
    api_base: str = ""  # ATTUNE_TWILIO_API_BASE: another Twilio-compatible API (default: Twilio)
    public_url: str = ""  # ATTUNE_PUBLIC_RASA_URL: where Twilio reaches this server (signatures)

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> "TwilioChannelSettings":
        given = credentials or {}
        return cls(
            account_sid=_text(given.get("account_sid")),
            auth_token=_text(given.get("auth_token")),
            number=_text(given.get("twilio_number")),
            whatsapp_number=_text(given.get("whatsapp_number")),
            api_base=_http_url("ATTUNE_TWILIO_API_BASE", _text(given.get("api_base"))),
            public_url=_http_url("ATTUNE_PUBLIC_RASA_URL", _text(given.get("public_url"))),
        )

    def missing(self) -> list[str]:
        """The environment variables still to set before the channel can work."""
        required = {
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "TWILIO_FROM_NUMBER": self.number,
            "ATTUNE_PUBLIC_RASA_URL": self.public_url,
        }
        return [name for name, value in required.items() if not value]


def webhook_form(content_type: str, body: bytes) -> "MultiDict[str]":
    """The POSTed form with empty values kept: Twilio signs ``Body=`` too (Sanic's request.form drops it)."""
    if content_type.split(";")[0].strip().lower() != FORM_CONTENT_TYPE:
        return MultiDict()
    return MultiDict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def signature_ok(auth_token: str, url: str, form: Mapping[str, str], signature: str | None) -> bool:
    """Whether ``signature`` is Twilio's X-Twilio-Signature for this URL and form."""
    return bool(signature) and RequestValidator(auth_token).validate(url, form, signature)


def inbound_message(form: Mapping[str, str]) -> tuple[str, str]:
    """``(sender, text)`` of Twilio's incoming-message webhook; BadTwilioRequest says what is missing."""
    sender = form.get("From", "").strip()
    if not sender:
        raise BadTwilioRequest("'From' is required (the customer's number, +E164 or whatsapp:+E164)")
    try:
        check_id(sender, "From")
    except InvalidInput as error:
        raise BadTwilioRequest(str(error)) from None
    latitude, longitude = form.get("Latitude"), form.get("Longitude")
    if latitude and longitude:
        # Rasa's convention for a shared location (WhatsApp sends no Body with it).
        return sender, f"/locationData{{'Latitude': {latitude},'Longitude': {longitude}}}"
    text = form.get("Body")
    if text is None:
        raise BadTwilioRequest("'Body' is required (it may be empty when the message has media)")
    try:
        check_text(text, "Body")
    except InvalidInput as error:
        raise BadTwilioRequest(str(error)) from None
    return sender, text.replace("¡", "@")  # some carriers turn @ into ¡


def message_sid(form: Mapping[str, str]) -> str:
    """The webhook's ``MessageSid``; BadTwilioRequest when it is missing or not one."""
    sid = form.get("MessageSid", "").strip()
    if not MESSAGE_SID.fullmatch(sid):
        raise BadTwilioRequest("'MessageSid' is required: Twilio's id of the message (SM and 32 hex digits)")
    return sid


def twilio_message(custom: Mapping[str, Any]) -> dict[str, Any] | None:
    """What of a response's custom payload Twilio can send; None when nothing (a web-only notice)."""
    fields = {name: value for name, value in custom.items() if name in MESSAGE_FIELDS and value}
    return fields if any(name in fields for name in CONTENT_FIELDS) else None


def reply_sender(recipient: str, number: str, whatsapp_number: str = "") -> str:
    """Who a reply to ``recipient`` comes from: the WhatsApp sender for WhatsApp, else the SMS number."""
    if not recipient.startswith(WHATSAPP):
        return number
    sender = whatsapp_number or number
    return sender if sender.startswith(WHATSAPP) else WHATSAPP + sender


def _refuse(status: int, error: str, detail: str) -> HTTPResponse:
    return response.json({"error": error, "detail": detail}, status=status)


class CheckedTwilioOutput(TwilioOutput):
    """Sends the bot's replies through Twilio once each, from the number that suits the recipient."""

    def __init__(self, settings: TwilioChannelSettings) -> None:
        # TwilioOutput.__init__ would build the client on Twilio's default, retrying HTTP client.
        Client.__init__(
            self, settings.account_sid, settings.auth_token, http_client=TwilioHttp(settings.api_base or None)
        )
        self.twilio_number = settings.number
        self.whatsapp_number = settings.whatsapp_number

    async def _send_message(self, message_data: dict[str, Any]) -> Any:
        data = dict(message_data)
        # Every TwilioOutput method addresses the conversation ("sms:+44..."): Twilio wants the number.
        data["to"] = twilio_address(str(data.get("to", ""))) or data.get("to")
        if data.get("from_") == self.twilio_number:  # Rasa's default sender; custom JSON may set another
            data["from_"] = reply_sender(str(data.get("to", "")), self.twilio_number, self.whatsapp_number)
        try:
            return await asyncio.to_thread(self.messages.create, **data)
        except TwilioRestException as error:
            logger.error(
                "Twilio refused a reply: %s (error %s, HTTP %s)", error.msg, error.code, error.status
            )
        except (TwilioException, OSError) as error:
            logger.error("could not send a reply through Twilio: %r", error)
        except (TypeError, ValueError) as error:  # a payload the client cannot send: never a 500
            logger.error("a reply could not be sent through Twilio, it is malformed: %r", error)
        return None

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        """What Twilio can send of a custom payload (``twilio_message``), to the conversation's number."""
        message = twilio_message(json_message)
        if message is None:
            logger.debug("skipped a custom payload with nothing for SMS/WhatsApp: %s", list(json_message))
            return
        message.setdefault("from_", self.twilio_number)
        if message.get("messaging_service_sid"):
            message.pop("from_")
        await self._send_message({**message, "to": recipient_id})

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        """One message per paragraph, as Rasa does, skipping blank ones (Twilio refuses an empty body)."""
        for part in text.strip().split("\n\n"):
            if part.strip():
                await self._send_message({"to": recipient_id, "from_": self.twilio_number, "body": part})


class CheckedTwilioInput(TwilioInput):
    """POST /webhooks/twilio/webhook: Twilio's incoming SMS and WhatsApp messages, signed."""

    @classmethod
    def name(cls) -> str:
        return "twilio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        settings = TwilioChannelSettings.from_credentials(credentials)
        return cls(settings, MessageReceipts.from_environ(os.environ))

    def __init__(self, settings: TwilioChannelSettings, receipts: MessageReceipts) -> None:
        super().__init__(settings.account_sid, settings.auth_token, settings.number, debug_mode=False)
        self.settings = settings
        self.receipts = receipts

    async def _answer_if_repeated(self, sid: str) -> HTTPResponse | None:
        """The answer to a message received before (or that cannot be recorded); None when it is to be
        handled now: new, or taken over from a turn that died, and claimed.
        """
        try:
            claim = await self.receipts.claim(sid)
        except ReceiptsUnavailable as error:
            logger.error("refused a Twilio webhook: cannot tell whether %s is new: %s", sid, error)
            return _refuse(503, "unavailable", "the message could not be recorded; it was not handled")
        if claim == TAKEN_OVER:
            logger.warning("handling message %s again: its first turn never finished (Rasa stopped?)", sid)
        if claim in TO_HANDLE:
            return None
        if claim == IN_FLIGHT:
            logger.warning("ignored a Twilio webhook for message %s, which is being handled now", sid)
        else:
            logger.warning(
                "ignored a Twilio webhook for message %s, which was received before (a replay?)", sid
            )
        return response.text(EMPTY_TWIML, content_type="text/xml")

    async def _mark_handled(self, sid: str) -> None:
        try:
            await self.receipts.mark_handled(sid)
        except ReceiptsUnavailable as error:
            logger.error("message %s was handled but not marked so; it may be handled again: %s", sid, error)

    def _refusal(self, request: Request, form: Mapping[str, str]) -> HTTPResponse | None:
        missing = self.settings.missing()
        if missing:
            detail = f"SMS and WhatsApp are not configured: set {', '.join(missing)} and restart Rasa"
            logger.warning("refused a Twilio webhook: %s", detail)
            return _refuse(503, "not_configured", detail)
        url = self.settings.public_url + request.raw_url.decode("utf-8", "replace")
        signature = request.headers.get("X-Twilio-Signature")
        if not signature_ok(self.settings.auth_token, url, form, signature):
            detail = (
                "missing X-Twilio-Signature"
                if not signature
                else f"X-Twilio-Signature is not valid for {url}"
            )
            logger.warning("refused a Twilio webhook: %s", detail)
            return _refuse(403, "forbidden", detail)
        return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = guard_server(Blueprint("twilio_webhook", __name__))
        # Text normalised and failures answered honestly by SMS (turn_guard.py), then the consent gate.
        on_new_message = protected(gated(on_new_message))

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            form = webhook_form(request.headers.get("content-type", ""), request.body)
            refusal = self._refusal(request, form)
            if refusal is not None:
                return refusal
            try:
                sender, text = inbound_message(form)
                sid = message_sid(form)
            except BadTwilioRequest as error:
                logger.warning("refused a Twilio webhook: %s", error)
                return _refuse(400, "bad_request", str(error))
            repeated = await self._answer_if_repeated(sid)
            if repeated is not None:
                return repeated
            try:
                message = UserMessage(
                    text,
                    self.get_output_channel(),
                    twilio_conversation(sender),
                    input_channel=self.name(),
                    metadata=self.get_metadata(request),
                )
                await on_new_message(message)  # a failure is logged and answered there, never a 500
            finally:
                # Handled even when it failed (the customer was told to send it again) or Twilio hung
                # up and Sanic cancelled the turn: only a process that dies leaves it unhandled.
                # Shielded: a second cancellation must not stop the mark.
                await asyncio.shield(self._mark_handled(sid))
            return response.text(EMPTY_TWIML, content_type="text/xml")

        return webhook

    def get_output_channel(self) -> OutputChannel:
        missing = [name for name in self.settings.missing() if name.startswith("TWILIO_")]
        if missing:
            raise TwilioChannelError(f"SMS and WhatsApp are not configured: set {', '.join(missing)}")
        return CheckedTwilioOutput(self.settings)
