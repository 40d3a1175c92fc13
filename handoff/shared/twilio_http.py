"""The official Twilio client, pointed at Twilio or at a Twilio-compatible API, and never retrying.

ATTUNE_TWILIO_API_BASE (unset: Twilio itself) sends every ``https://*.twilio.com`` request to another
base URL instead: a Twilio-compatible provider, Stoplight Prism serving Twilio's OpenAPI description,
or the tests' loopback fake.  Rewriting the URL just before sending is what holds up: the client's
``api.base_url`` breaks as soon as a region or edge is set.  The Rasa server's SMS channel
(bot/components/twilio_channel.py) uses the same class, so both speak to the same Twilio.
"""

import re
from typing import Any

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

TWILIO_HOST = re.compile(r"^https://[a-z0-9.-]*\.twilio\.com")
TIMEOUT_SECONDS = 10.0


class TwilioHttp(TwilioHttpClient):
    """Twilio's requests-based HTTP layer, without retries and with an optional other base URL.

    No retries: the client would re-send a POST after a 5xx, and a re-sent ``calls.create`` can ring
    the customer twice.  With another base URL, proxies from the environment are ignored, so an
    inherited HTTPS_PROXY cannot capture calls meant for a loopback or private API.
    """

    def __init__(self, api_base: str | None = None, timeout: float = TIMEOUT_SECONDS) -> None:
        super().__init__(timeout=timeout, max_retries=None)
        self.api_base = api_base.rstrip("/") if api_base else None
        if self.api_base and self.session is not None:
            self.session.trust_env = False

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self.api_base:
            url = TWILIO_HOST.sub(self.api_base, url)
        return super().request(method, url, *args, **kwargs)


def twilio_client(account_sid: str | None, auth_token: str | None, api_base: str | None = None) -> Any:
    """``twilio.rest.Client`` over ``TwilioHttp`` (typed Any: the twilio package ships no type hints)."""
    from twilio.rest import Client

    return Client(account_sid, auth_token, http_client=TwilioHttp(api_base))
