"""The one rule for calls to the handoff service (actions/clients/http.py), per outcome class and per client.

A local aiohttp server answers with the status each test asks for; the clients and queues are real.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from actions.audit_queue import AuditQueue
from actions.audit_queue import flush_once as flush_audit
from actions.clients.audit import AuditClient
from actions.clients.customers import ConsentNotRecorded, CustomerClient
from actions.clients.handoff import HandoffClient, HandoffConflict
from actions.clients.http import (
    REJECT,
    REPORT,
    RETRY,
    SUCCESS,
    ServiceMisconfigured,
    ServiceRejected,
    ServiceUnavailable,
    classify,
    post_json,
)
from actions.handoff_delivery import deliver
from actions.outbox import Outbox
from tests.support.ports import bound_socket, port_of

Server = Callable[..., Awaitable[Any]]


class Answers:
    """What the fake service answers next (status and body), and how many calls it saw."""

    def __init__(self, status: int, body: str = '{"detail": "as told"}', delay: float = 0.0) -> None:
        self.status, self.body, self.delay = status, body, delay
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return web.Response(status=self.status, text=self.body, content_type="application/json")


async def serve(aiohttp_server: Server, answers: Answers) -> str:
    app = web.Application()
    for route in ("/api/v1/handoffs", "/api/v1/audit", "/api/v1/customers/consent"):
        app.router.add_post(route, answers.handle)
    server = await aiohttp_server(app)
    return str(server.make_url("")).rstrip("/")


def test_every_status_falls_in_exactly_one_class() -> None:
    assert [classify(s) for s in (200, 201, 204)] == [SUCCESS] * 3
    assert [classify(s) for s in (500, 502, 503, 504, 408, 425, 429)] == [RETRY] * 7
    assert [classify(s) for s in (401, 403, 404, 405)] == [REPORT] * 4
    assert [classify(s) for s in (400, 409, 410, 413, 415, 422)] == [REJECT] * 6


@pytest.mark.parametrize("status", [500, 503, 429, 408])
async def test_a_server_error_or_throttling_is_retried(aiohttp_server: Server, status: int) -> None:
    url = await serve(aiohttp_server, Answers(status))
    with pytest.raises(ServiceUnavailable) as raised:
        await post_json(f"{url}/api/v1/audit", {}, api="audit", timeout=2)
    assert not isinstance(raised.value, ServiceMisconfigured) and str(status) in str(raised.value)


async def test_no_answer_and_a_timeout_are_retried(aiohttp_server: Server) -> None:
    # A socket bound but not listening: the connection is refused.
    with bound_socket() as sock, pytest.raises(ServiceUnavailable, match="ClientConnectorError"):
        await post_json(f"http://127.0.0.1:{port_of(sock)}/x", {}, api="audit", timeout=2)
    url = await serve(aiohttp_server, Answers(200, delay=1.0))
    with pytest.raises(ServiceUnavailable, match="TimeoutError"):
        await post_json(f"{url}/api/v1/audit", {}, api="audit", timeout=0.2)


async def test_a_success_that_is_not_the_apis_json_is_retried(aiohttp_server: Server) -> None:
    url = await serve(aiohttp_server, Answers(200, body="<html>proxy says hi</html>"))
    with pytest.raises(ServiceUnavailable, match="not JSON"):
        await post_json(f"{url}/api/v1/audit", {}, api="audit", timeout=2)


@pytest.mark.parametrize("status", [400, 409, 413, 422])
async def test_content_the_service_refuses_is_rejected_for_good(aiohttp_server: Server, status: int) -> None:
    url = await serve(aiohttp_server, Answers(status, '{"error": "x", "detail": "kind must be one of"}'))
    with pytest.raises(ServiceRejected) as raised:
        await post_json(f"{url}/api/v1/audit", {}, api="audit", timeout=2)
    assert raised.value.status == status and str(raised.value) == f"{status}: kind must be one of"


@pytest.mark.parametrize(
    ("status", "setting"),
    [(401, "ATTUNE_HANDOFF_API_TOKEN"), (403, "ATTUNE_HANDOFF_API_TOKEN"), (404, "ATTUNE_HANDOFF_URL")],
)
async def test_a_misconfiguration_is_retried_logged_loudly_and_reported(
    aiohttp_server: Server, caplog: pytest.LogCaptureFixture, status: int, setting: str
) -> None:
    url = await serve(aiohttp_server, Answers(status))
    reported: list[ServiceMisconfigured] = []

    with pytest.raises(ServiceMisconfigured) as raised:
        await post_json(f"{url}/api/v1/audit", {}, api="audit", timeout=2, report=reported.append)

    assert isinstance(raised.value, ServiceUnavailable)  # retried like any unavailability
    assert [(e.api, e.status) for e in reported] == [("audit", status)]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any(setting in message and str(status) in message for message in errors)


async def test_a_reporter_that_fails_does_not_change_the_outcome(aiohttp_server: Server) -> None:
    url = await serve(aiohttp_server, Answers(401))

    def broken(error: ServiceMisconfigured) -> None:
        raise RuntimeError("metrics are down")

    with pytest.raises(ServiceMisconfigured):
        await post_json(f"{url}/api/v1/audit", {}, api="audit", timeout=2, report=broken)


# The same rule through each of the three clients and the queues behind them.


async def test_the_handoff_outbox_keeps_a_handoff_while_misconfigured_and_rejects_bad_content(
    aiohttp_server: Server, tmp_path: Path
) -> None:
    answers = Answers(403)
    client = HandoffClient(await serve(aiohttp_server, answers))
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'outbox.db'}")

    kept = await deliver({"idempotency_key": "h-1"}, outbox, client, attempts=2, pause=0.01)
    answers.status = 422
    refused = await deliver({"idempotency_key": "h-2"}, outbox, client, attempts=2, pause=0.01)

    assert kept.status == "queued" and outbox.get("h-1").status == "pending"  # type: ignore[union-attr]
    assert refused.status == "rejected" and outbox.get("h-2").status == "rejected"  # type: ignore[union-attr]
    assert answers.calls == 3  # two tries for the 403, one for the 422


async def test_the_handoff_client_tells_a_conflict_from_other_rejections(aiohttp_server: Server) -> None:
    client = HandoffClient(await serve(aiohttp_server, Answers(409, '{"detail": "key reused"}')))
    with pytest.raises(HandoffConflict, match="409: key reused"):
        await client.send({"idempotency_key": "h-1"})


@pytest.mark.parametrize(
    ("status", "left", "state"), [(401, 1, "pending"), (503, 1, "pending"), (400, 0, "rejected")]
)
async def test_the_audit_queue_follows_the_same_rule(
    aiohttp_server: Server, tmp_path: Path, status: int, left: int, state: str
) -> None:
    client = AuditClient(await serve(aiohttp_server, Answers(status)))
    queue = AuditQueue.open(f"sqlite:///{tmp_path / 'queue.db'}")
    queue.put_all([{"key": "a-1"}])

    assert await flush_audit(queue, client) == 0

    item = queue.get("a-1")
    assert queue.pending_count() == left and item is not None and item.status == state
    assert item.last_error is not None and str(status) in item.last_error


@pytest.mark.parametrize(("status", "calls"), [(503, 3), (401, 3), (400, 1), (422, 1)])
async def test_the_consent_client_retries_quickly_only_what_may_still_succeed(
    aiohttp_server: Server, status: int, calls: int
) -> None:
    answers = Answers(status)
    reported: list[int] = []
    client = CustomerClient(
        await serve(aiohttp_server, answers), report=lambda error: reported.append(error.status)
    )

    with pytest.raises(ConsentNotRecorded, match=str(status)):
        await client.set_emotion_processing([{"kind": "conversation", "value": "c-1"}], "off", "rest")

    assert answers.calls == calls
    assert reported == ([status] * calls if status == 401 else [])
