"""A Twilio-compatible HTTP server for tests, on loopback, and a client that talks to it.

It speaks the part of Twilio's REST API Attune uses (POST .../Accounts/{Sid}/Calls.json): Basic
auth, required To/From, one of Url/Twiml, Twilio's error shape and codes (20003 auth, 21201
missing To, 21211 invalid To), realistic 201 bodies, and scripted failures.
"""

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BasicAuth, web
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test-auth-token"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


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


@dataclass
class FakeTwilio:
    calls: list[dict[str, str]] = field(default_factory=list)
    scripted: list[int] = field(default_factory=list)  # statuses to answer with before behaving normally

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Calls.json", self.create_call)
        return app

    async def create_call(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        try:
            credentials = BasicAuth.decode(auth)
        except ValueError:
            return error(401, 20003, "Authenticate")
        if (credentials.login, credentials.password) != (ACCOUNT_SID, AUTH_TOKEN) or request.match_info[
            "sid"
        ] != ACCOUNT_SID:
            return error(401, 20003, "Authenticate")
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.calls.append(form)
        if self.scripted:
            status = self.scripted.pop(0)
            return error(status, 20500 if status >= 500 else 20429, "Scripted failure")
        if not form.get("To"):
            return error(400, 21201, "No 'To' number is specified")
        if not E164.match(form["To"]):
            return error(400, 21211, f"The 'To' number {form['To']} is not a valid phone number.")
        if not form.get("From"):
            return error(400, 21213, "No 'From' number is specified")
        if not (form.get("Url") or form.get("Twiml")):
            return error(400, 21205, "Url parameter is required.")
        sid = "CA" + secrets.token_hex(16)
        return web.json_response(
            {
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "to": form["To"],
                "from": form["From"],
                "status": "queued",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/{sid}.json",
            },
            status=201,
        )


class LoopbackHttpClient(TwilioHttpClient):
    """The real client's HTTP layer, sending https://*.twilio.com requests to the fake instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__(timeout=5)
        self.base_url = base_url.rstrip("/")
        if self.session is not None:
            self.session.trust_env = False  # an inherited proxy must not capture loopback calls

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(
            method, re.sub(r"^https://[a-z0-9.-]*\.twilio\.com", self.base_url, url), *args, **kwargs
        )
