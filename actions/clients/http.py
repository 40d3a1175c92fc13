"""How the action server calls the handoff service: one POST helper, one rule for retry, reject and report.

Every call has a timeout, and every outcome falls in exactly one class.  The three clients
(handoff.py, audit.py, customers.py) and the senders behind them (the handoff outbox, the audit
queue, the consent actions) all follow it:

- **success** (2xx with a JSON body): the body is returned.
- **retry** (``ServiceUnavailable``): no answer (refused, reset, DNS), a timeout, 5xx, 408, 425,
  429, or a 2xx whose body is not the API's JSON (a proxy's page).  The request was fine and the
  service was not ready: a durable queue keeps the item and tries again with backoff
  (handoff/shared/backoff.py); a caller that cannot wait tries a few times quickly, then gives up.
- **report** (``ServiceMisconfigured``, a kind of ``ServiceUnavailable``): 401 and 403 (the token
  in ATTUNE_HANDOFF_API_TOKEN is missing or wrong), 404 and 405 (the route is not there:
  ATTUNE_HANDOFF_URL names another server, or the service is older than the action server; the
  service never answers 404 about the *content* of these three POSTs).  The item is fine and the
  deployment is not, so the item must not be thrown away: it is retried exactly like "retry",
  and so it goes out as soon as someone fixes the setting.  Each occurrence is logged at ERROR,
  naming the settings to check, and handed to ``report`` (the action server counts it in
  ``attune_service_misconfigured_total``), so the outage is loud rather than a silent backlog.
- **reject** (``ServiceRejected``): every other 4xx (400, 409, 410, 413, 415, 422, ...).  The service
  understood the request and refused its content: the same body would get the same answer.  A
  durable queue keeps the item as ``rejected`` with the reason (its dead letter) for someone to
  look at; a caller that cannot wait gives up at once.

The class comes from the status alone: an error page from a proxy is classified like the
service's own answer with the same status.
"""

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import aiohttp

logger = logging.getLogger(__name__)

Outcome = Literal["success", "retry", "report", "reject"]
SUCCESS: Final = "success"
RETRY: Final = "retry"
REPORT: Final = "report"
REJECT: Final = "reject"

# 4xx that say "not now" rather than "never": request timeout, too early, too many requests.
RETRIED_CLIENT_ERRORS: Final = frozenset({408, 425, 429})
# 4xx that say "this deployment is wrong": credentials refused, or no such route here.
MISCONFIGURATION: Final = frozenset({401, 403, 404, 405})


class ServiceUnavailable(Exception):
    """No usable answer yet (see the module docstring): keep the item and try again later."""


class ServiceMisconfigured(ServiceUnavailable):
    """The service refused the action server itself (401, 403) or has no such route (404, 405):
    retried like any unavailability, and reported loudly.
    """

    def __init__(self, api: str, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail} ({_remedy(status)})")
        self.api = api
        self.status = status


class ServiceRejected(Exception):
    """The service refused the content of the request (4xx): sending it again will not help."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status


# Told each misconfiguration after it is logged, e.g. to count it; must not raise (if it does, it is logged).
Reporter = Callable[[ServiceMisconfigured], None]


def classify(status: int) -> Outcome:
    """The class of an HTTP status under the rule above."""
    if 200 <= status < 300:
        return SUCCESS
    if status in MISCONFIGURATION:
        return REPORT
    if 400 <= status < 500 and status not in RETRIED_CLIENT_ERRORS:
        return REJECT
    return RETRY  # 5xx, 408, 425, 429, and anything unexpected (1xx, 3xx): the item is kept


async def post_json(
    url: str,
    body: Any,
    *,
    api: str,
    timeout: float,
    token: str | None = None,
    headers: Mapping[str, str] | None = None,
    report: Reporter | None = None,
) -> Any:
    """POSTs ``body`` as JSON and returns the answer's JSON body on success.

    Raises ``ServiceRejected``, ``ServiceMisconfigured`` or ``ServiceUnavailable`` by the rule above;
    ``api`` names the route in messages and reports (handoffs, audit, customers).
    """
    sent = dict(headers or {})
    if token:
        sent["Authorization"] = f"Bearer {token}"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.post(url, json=body, headers=sent) as response,
        ):
            status = response.status
            text = await response.text()
    except (aiohttp.ClientError, asyncio.TimeoutError, UnicodeDecodeError) as error:
        raise ServiceUnavailable(f"{type(error).__name__}: {error}") from error
    return _answer(api, status, text, report)


def _answer(api: str, status: int, text: str, report: Reporter | None) -> Any:
    outcome = classify(status)
    if outcome == SUCCESS:
        return _json(text)
    detail = _detail(text)
    if outcome == REJECT:
        raise ServiceRejected(status, detail)
    if outcome == REPORT:
        error = ServiceMisconfigured(api, status, detail)
        logger.error("the handoff service's %s API refused the action server: %s", api, error)
        _report(report, error)
        raise error
    raise ServiceUnavailable(f"handoff service answered {status}: {detail}")


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        # A 2xx that is not the API's answer (a proxy's page): the service has not spoken yet.
        raise ServiceUnavailable(f"an answer that is not JSON: {error}") from error


def _detail(text: str) -> str:
    """The service's ``detail`` (its error shape), else the start of whatever came back."""
    try:
        document = json.loads(text)
    except ValueError:
        return text.strip()[:200]
    if isinstance(document, dict) and "detail" in document:
        return str(document["detail"])
    return str(document)[:200]


def _remedy(status: int) -> str:
    if status in (401, 403):
        return "check ATTUNE_HANDOFF_API_TOKEN against the service's token"
    return "check ATTUNE_HANDOFF_URL, and that the service is at least as new as the action server"


def _report(report: Reporter | None, error: ServiceMisconfigured) -> None:
    if report is None:
        return
    try:
        report(error)
    except Exception:
        logger.exception("could not report a misconfiguration")
