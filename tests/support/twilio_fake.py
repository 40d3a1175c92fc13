"""A Twilio-compatible HTTP server for tests, on loopback, and what it sends back to Attune.

It speaks the part of Twilio's REST API Attune uses: ``POST .../Accounts/{Sid}/Calls.json`` and
``POST .../Accounts/{Sid}/Messages.json``, with Basic auth, Twilio's required parameters, error shape
and codes, realistic 201 bodies, and scripted failures.  Like Twilio it also calls back: signed
status callbacks and TwiML fetches for the calls it created (``send_status``, ``fetch_twiml``) and
signed incoming-SMS/WhatsApp webhooks (``send_sms``), each of which it can send again byte for byte,
as an attacker who captured it would (``replay``).  ``FakeTwilioThread`` runs it for synchronous
fixtures.  The client side is the production one: ``handoff.shared.twilio_http.TwilioHttp(base_url)``.
"""

import asyncio
import re
import secrets
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, TypeVar

import aiohttp
import yarl
from aiohttp import BasicAuth, web
from twilio.request_validator import RequestValidator

from handoff.shared.twilio_http import TwilioHttp

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token"
# Twilio's magic test number: valid as a From for calls and messages.
TWILIO_NUMBER = "+15005550006"
API_VERSION = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
WHATSAPP = "whatsapp:"
T = TypeVar("T")

# The production client's HTTP layer, which sends https://*.twilio.com requests to the fake when
# given its base URL (the name older tests import).
LoopbackHttpClient = TwilioHttp


def error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def _address(value: str) -> str:
    """The phone number of an SMS (+E164) or WhatsApp (whatsapp:+E164) address."""
    return value.removeprefix(WHATSAPP)


def _signed_headers(url: str, params: dict[str, str], signature: str | None) -> dict[str, str]:
    """X-Twilio-Signature as Twilio computes it; ``signature`` overrides it ("" sends none)."""
    if signature is None:
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, params)
    return {"X-Twilio-Signature": signature} if signature else {}


@dataclass(frozen=True)
class Webhook:
    """One incoming-message webhook as it was sent: where, the form and its headers."""

    url: str
    params: dict[str, str]
    headers: dict[str, str]


async def _post(url: str, params: dict[str, str], headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            yarl.URL(url, encoded=True),  # exactly the URL that was signed, not re-quoted
            data=params,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=60),
        ) as response,
    ):
        return response.status, await response.text()


async def _post_form(url: str, params: dict[str, str], signature: str | None) -> tuple[int, str]:
    return await _post(url, params, _signed_headers(url, params, signature))


@dataclass
class FakeTwilio:
    calls: list[dict[str, str]] = field(default_factory=list)  # every Calls.json request's form
    created_calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (sid, form) placed
    messages: list[dict[str, str]] = field(default_factory=list)  # every Messages.json request's form
    # Statuses to answer Calls.json and Messages.json requests with before behaving normally.
    scripted: list[int] = field(default_factory=list)
    # Seconds to wait before answering Calls.json (longer than the client's timeout: a timeout).
    delay_seconds: float = 0.0
    # Every incoming-message webhook send_sms posted, for replay().
    webhooks: list[Webhook] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Calls.json", self.create_call)
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create_message)
        return app

    @staticmethod
    def _authorized(request: web.Request) -> bool:
        try:
            credentials = BasicAuth.decode(request.headers.get("Authorization", ""))
        except ValueError:
            return False
        return (credentials.login, credentials.password) == (ACCOUNT_SID, AUTH_TOKEN) and request.match_info[
            "sid"
        ] == ACCOUNT_SID

    def _scripted_failure(self) -> web.Response | None:
        if not self.scripted:
            return None
        status = self.scripted.pop(0)
        return error(status, 20500 if status >= 500 else 20429, "Scripted failure")

    async def create_call(self, request: web.Request) -> web.Response:
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if not self._authorized(request):
            return error(401, 20003, "Authenticate")
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.calls.append(form)
        failure = self._scripted_failure()
        if failure is not None:
            return failure
        if not form.get("To"):
            return error(400, 21201, "No 'To' number is specified")
        if not E164.match(form["To"]):
            return error(400, 21211, f"The 'To' number {form['To']} is not a valid phone number.")
        if not form.get("From"):
            return error(400, 21213, "No 'From' number is specified")
        if not (form.get("Url") or form.get("Twiml")):
            return error(400, 21205, "Url parameter is required.")
        sid = "CA" + secrets.token_hex(16)
        self.created_calls.append((sid, form))
        return web.json_response(
            {
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "to": form["To"],
                "from": form["From"],
                "status": "queued",
                "direction": "outbound-api",
                "api_version": API_VERSION,
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
            },
            status=201,
        )

    async def create_message(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return error(401, 20003, "Authenticate")
        post = await request.post()
        form = {k: str(v) for k, v in post.items()}
        self.messages.append(form)
        failure = self._scripted_failure()
        if failure is not None:
            return failure
        to, sender = form.get("To", ""), form.get("From", "")
        if not to:
            return error(400, 21604, "A 'To' phone number is required.")
        if not E164.match(_address(to)):
            return error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not sender and not form.get("MessagingServiceSid"):
            return error(400, 21603, "A 'From' phone number is required.")
        if sender and to.startswith(WHATSAPP) != sender.startswith(WHATSAPP):
            return error(400, 21910, "Invalid From and To pair. From and To should be of the same channel")
        media = post.getall("MediaUrl", [])
        if not (form.get("Body") or media):
            return error(400, 21602, "Message body is required.")
        sid = "SM" + secrets.token_hex(16)
        now = formatdate(usegmt=True)
        uri = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json"
        return web.json_response(
            {
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "messaging_service_sid": None,
                "to": to,
                "from": sender,
                "body": form.get("Body", ""),
                "status": "queued",
                "direction": "outbound-api",
                "num_segments": "1",
                "num_media": str(len(media)),
                "price": None,
                "price_unit": "USD",
                "error_code": None,
                "error_message": None,
                "api_version": API_VERSION,
                "date_created": now,
                "date_updated": now,
                "date_sent": None,
                "uri": uri,
                "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            },
            status=201,
        )

    def created_call(self, call_sid: str) -> dict[str, str]:
        for sid, form in self.created_calls:
            if sid == call_sid:
                return form
        raise KeyError(f"no call {call_sid} was created")

    def _call_params(self, call_sid: str, status: str, extra: dict[str, str]) -> dict[str, str]:
        form = self.created_call(call_sid)
        return {
            "CallSid": call_sid,
            "AccountSid": ACCOUNT_SID,
            "CallStatus": status,
            "To": form["To"],
            "From": form["From"],
            "Direction": "outbound-api",
            "ApiVersion": API_VERSION,
            **extra,
        }

    async def send_status(
        self, call_sid: str, status: str, *, signature: str | None = None, **extra: str
    ) -> int:
        """Posts Twilio's status callback for a created call to its StatusCallback; the HTTP status.

        ``signature`` replaces the correct X-Twilio-Signature (``""``: none is sent).
        """
        url = self.created_call(call_sid)["StatusCallback"]
        code, _ = await _post_form(url, self._call_params(call_sid, status, extra), signature)
        return code

    async def send_status_forged(self, call_sid: str, status: str, **extra: str) -> int:
        return await self.send_status(call_sid, status, signature="forged-signature", **extra)

    async def fetch_twiml(self, call_sid: str, *, signature: str | None = None) -> tuple[int, str]:
        """What Twilio does when the call is answered: POST to its Url; the status and the TwiML."""
        url = self.created_call(call_sid)["Url"]
        return await _post_form(url, self._call_params(call_sid, "in-progress", {}), signature)

    def incoming_message(
        self,
        rasa_webhook_url: str,
        from_number: str,
        body: str | None,
        signed: bool = True,
        *,
        to: str | None = None,
        signature: str | None = None,
        public_url: str | None = None,
    ) -> Webhook:
        """An incoming SMS (or WhatsApp message, for a ``whatsapp:`` sender) as Twilio posts it, kept
        in ``webhooks`` (``deliver`` posts it).

        ``body=None`` leaves Body out; ``signed=False`` sends no X-Twilio-Signature and ``signature``
        sends that one instead of the correct one; ``public_url`` is the URL signed when it is not
        the one posted to (a server behind a load balancer).
        """
        whatsapp = from_number.startswith(WHATSAPP)
        sid = "SM" + secrets.token_hex(16)
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": ACCOUNT_SID,
            "From": from_number,
            "To": to or (WHATSAPP + TWILIO_NUMBER if whatsapp else TWILIO_NUMBER),
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }
        if body is not None:
            params["Body"] = body
        if whatsapp:
            params["WaId"] = _address(from_number).lstrip("+")
            params["ProfileName"] = "Customer"
        headers = _signed_headers(public_url or rasa_webhook_url, params, signature if signed else "")
        webhook = Webhook(rasa_webhook_url, params, headers)
        self.webhooks.append(webhook)
        return webhook

    @staticmethod
    async def deliver(webhook: Webhook, to_url: str | None = None) -> tuple[int, str]:
        """Posts ``webhook`` exactly as it was made (to ``to_url``: another server behind the same
        public URL); the HTTP status and the response's text.
        """
        return await _post(to_url or webhook.url, webhook.params, webhook.headers)

    async def send_sms(
        self,
        rasa_webhook_url: str,
        from_number: str,
        body: str | None,
        signed: bool = True,
        *,
        to: str | None = None,
        signature: str | None = None,
        public_url: str | None = None,
    ) -> int:
        """Posts an incoming message (``incoming_message``, the same arguments); the HTTP status."""
        webhook = self.incoming_message(
            rasa_webhook_url, from_number, body, signed, to=to, signature=signature, public_url=public_url
        )
        code, _ = await self.deliver(webhook)
        return code

    async def replay(self, index: int = -1, to_url: str | None = None) -> tuple[int, str]:
        """Sends webhook ``index`` again byte for byte, as one who captured it would."""
        return await self.deliver(self.webhooks[index], to_url)


class FakeTwilioThread:
    """A FakeTwilio served on a free 127.0.0.1 port by its own event loop in a daemon thread.

    ``with FakeTwilioThread() as twilio:`` then ``twilio.base_url``, ``twilio.fake`` and
    ``twilio.run(twilio.fake.send_status(...))`` from synchronous code.
    """

    def __init__(self, fake: FakeTwilio | None = None) -> None:
        self.fake = fake or FakeTwilio()
        self.base_url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-twilio", daemon=True)
        self._runner: web.AppRunner | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Runs ``coro`` on the fake's loop and returns its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    async def _start(self) -> str:
        self._runner = web.AppRunner(self.fake.app())
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeTwilioThread":
        self._thread.start()
        self.base_url = self.run(self._start())
        return self

    def stop(self) -> None:
        if self._runner is not None:
            self.run(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> "FakeTwilioThread":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
