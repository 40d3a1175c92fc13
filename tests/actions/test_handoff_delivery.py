"""Delivery through the outbox against the real handoff service app on loopback."""

import asyncio
import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import create_engine, func, select

from actions.clients.handoff import HandoffClient
from actions.durable_queue import FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS
from actions.escalation import ActionHandoff
from actions.handoff_delivery import deliver, flush_once, outbox_flusher
from actions.outbox import Outbox
from handoff.app import create_app
from handoff.core.models import Handoff
from handoff.core.settings import Settings
from handoff.shared.backoff import backoff
from handoff.shared.schema_file import EXAMPLE_FILE
from tests.support.ports import free_port
from tests.support.trackers import BASE_SLOTS, conversation

TOKEN = "delivery-test-token-000"


def example(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(json.loads(EXAMPLE_FILE.read_text())), **changes}


@pytest.fixture
def service_settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'handoff.db'}", log_format="text", api_token=TOKEN)


def stored_handoffs(settings: Settings) -> int:
    with create_engine(settings.database_url).connect() as connection:
        return int(connection.execute(select(func.count()).select_from(Handoff)).scalar_one())


async def test_a_handoff_while_the_service_is_down_is_kept_and_delivered_once_it_is_back(
    aiohttp_server, tmp_path: Path, service_settings: Settings
) -> None:
    port = free_port()
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'outbox.db'}")
    client = HandoffClient(f"http://127.0.0.1:{port}", TOKEN, timeout=1.0)

    result = await deliver(example(), outbox, client, attempts=2, pause=0.01)

    assert result.status == "queued"
    item = outbox.get(example()["idempotency_key"])
    assert item is not None and item.status == "pending" and item.attempts == 2

    await aiohttp_server(create_app(service_settings), port=port)
    started = time.monotonic()
    delivered = await flush_once(outbox, client, now=time.time() + 3600)
    recovery = time.monotonic() - started

    assert delivered == 1
    assert outbox.get(example()["idempotency_key"]).status == "delivered"  # type: ignore[union-attr]
    assert outbox.pending_count() == 0
    assert stored_handoffs(service_settings) == 1
    assert recovery < 5  # a sanity bound, not a benchmark: the flush is one local HTTP call


async def test_delivering_the_same_handoff_again_does_not_duplicate_it(
    aiohttp_server, tmp_path: Path, service_settings: Settings
) -> None:
    server = await aiohttp_server(create_app(service_settings))
    client = HandoffClient(str(server.make_url("")).rstrip("/"), TOKEN)
    first_outbox = Outbox.open(f"sqlite:///{tmp_path / 'a.db'}")
    second_outbox = Outbox.open(f"sqlite:///{tmp_path / 'b.db'}")  # e.g. a second action server

    first = await deliver(example(), first_outbox, client)
    second = await deliver(example(), second_outbox, client)

    assert first.status == second.status == "delivered"
    assert first.handoff_id == second.handoff_id
    assert stored_handoffs(service_settings) == 1


async def test_a_payload_the_service_rejects_is_kept_as_rejected_not_retried(
    aiohttp_server, tmp_path: Path, service_settings: Settings
) -> None:
    server = await aiohttp_server(create_app(service_settings))
    client = HandoffClient(str(server.make_url("")).rstrip("/"), TOKEN)
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'outbox.db'}")

    result = await deliver(example(priority="asap"), outbox, client)

    assert result.status == "rejected"
    assert "priority" in result.detail
    assert outbox.get(example()["idempotency_key"]).status == "rejected"  # type: ignore[union-attr]
    assert outbox.due(now=time.time() + 3600) == []


async def test_a_wrong_token_keeps_the_handoff_for_when_the_token_is_fixed_and_reports_it(
    aiohttp_server, tmp_path: Path, service_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # A 401 is a misconfiguration of the action server, not a fault of the handoff
    # (actions/clients/http.py): the handoff waits on disk, loudly, instead of being dropped.
    server = await aiohttp_server(create_app(service_settings))
    url = str(server.make_url("")).rstrip("/")
    reported: list[int] = []
    client = HandoffClient(url, "not-the-token-0000", report=lambda error: reported.append(error.status))
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'o.db'}")

    result = await deliver(example(), outbox, client, attempts=2, pause=0.01)

    assert result.status == "queued"
    item = outbox.get(example()["idempotency_key"])
    assert item is not None and item.status == "pending" and "401" in (item.last_error or "")
    assert reported == [401, 401]
    assert "ATTUNE_HANDOFF_API_TOKEN" in caplog.text
    assert any(r.levelname == "ERROR" and "401" in r.getMessage() for r in caplog.records)
    assert stored_handoffs(service_settings) == 0

    fixed = HandoffClient(url, TOKEN)
    assert await flush_once(outbox, fixed, now=time.time() + 3600) == 1
    assert stored_handoffs(service_settings) == 1


def test_backoff_doubles_and_is_capped_low_enough_for_a_prompt_retry(tmp_path: Path) -> None:
    # Issue 12: a saved handoff reaches the service within 30 s of its return; a 60 s cap could not.
    delays = [backoff(n, FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS) for n in (1, 2, 3, 4, 10)]
    assert delays == [2.0, 4.0, 8.0, 10.0, 10.0]
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'outbox.db'}")
    outbox.put(example(), now=0.0)
    for _ in range(4):
        outbox.failed(example()["idempotency_key"], "down", now=0.0)
    assert outbox.due(now=9.9) == [] and len(outbox.due(now=10.0)) == 1  # the fourth failure waits the cap


def stored_payloads(settings: Settings) -> list[dict[str, Any]]:
    with create_engine(settings.database_url).connect() as connection:
        return [json.loads(row) for row in connection.execute(select(Handoff.payload)).scalars()]


async def test_a_retry_after_a_restart_sends_the_stored_body_not_a_rebuilt_one(
    aiohttp_server, tmp_path: Path, service_settings: Settings
) -> None:
    port = free_port()
    outbox_url = f"sqlite:///{tmp_path / 'outbox.db'}"
    first = example(created_at="2026-03-10T12:00:00+00:00")
    down = HandoffClient(f"http://127.0.0.1:{port}", TOKEN, timeout=0.5)
    assert (await deliver(first, Outbox.open(outbox_url), down, attempts=1)).status == "queued"

    # The action server restarts; the same handoff is built again (same key, a new created_at).
    await aiohttp_server(create_app(service_settings), port=port)
    rebuilt = example(created_at="2026-03-10T12:05:00+00:00", summary="Built again after the restart.")
    result = await deliver(rebuilt, Outbox.open(outbox_url), HandoffClient(f"http://127.0.0.1:{port}", TOKEN))

    assert result.status == "delivered"
    assert [(p["created_at"], p["summary"]) for p in stored_payloads(service_settings)] == [
        (first["created_at"], first["summary"])
    ]


async def test_a_key_the_service_already_holds_with_another_body_counts_as_delivered(
    aiohttp_server, tmp_path: Path
) -> None:
    async def conflict(request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        return web.json_response(
            {
                "error": "idempotency_key_reused",
                "detail": f"idempotency key {key} was used with another body",
            },
            status=409,
        )

    app = web.Application()
    app.router.add_post("/api/v1/handoffs", conflict)
    server = await aiohttp_server(app)
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'outbox.db'}")

    result = await deliver(example(), outbox, HandoffClient(str(server.make_url("")).rstrip("/"), TOKEN))

    # Another outbox (a second action server) sent it first: the team has the conversation.
    assert result.status == "delivered" and "409" in result.detail
    assert outbox.get(example()["idempotency_key"]).status == "delivered"  # type: ignore[union-attr]


async def test_a_pass_stops_at_the_first_handoff_the_service_cannot_take(tmp_path: Path) -> None:
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'outbox.db'}")
    for n in range(3):
        outbox.put(example(idempotency_key=f"stops-at-first-{n}"), now=1000.0 + n)
    down = HandoffClient(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=0.5)

    assert await flush_once(outbox, down, now=2000.0) == 0

    attempts = [outbox.get(f"stops-at-first-{n}").attempts for n in range(3)]  # type: ignore[union-attr]
    assert attempts == [1, 0, 0]  # one call found the service down; the others were not tried


async def test_the_flusher_keeps_its_own_timer_and_sends_what_is_saved_later(
    aiohttp_server, tmp_path: Path, service_settings: Settings
) -> None:
    port = free_port()
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'outbox.db'}")
    flusher = outbox_flusher(
        outbox, HandoffClient(f"http://127.0.0.1:{port}", TOKEN, timeout=0.5), interval=0.05
    )
    flusher.ensure_running()  # as actions/server.py does at start-up, with nothing pending yet
    try:
        await asyncio.sleep(0.2)
        assert flusher.running  # an empty outbox does not end it
        outbox.put(example())  # saved while the service is down (by another request, another process)
        await asyncio.sleep(0.2)
        await aiohttp_server(create_app(service_settings), port=port)
        deadline = time.monotonic() + 30
        while outbox.pending_count() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await flusher.stop()

    assert outbox.pending_count() == 0 and stored_handoffs(service_settings) == 1
    assert not flusher.running


async def test_action_handoff_tells_the_customer_honestly_what_happened(
    aiohttp_server, tmp_path: Path, service_settings: Settings
) -> None:
    from handoff.core import accounts
    from handoff.core.app_keys import ENGINE

    app = create_app(service_settings)
    server = await aiohttp_server(app)
    up = HandoffClient(str(server.make_url("")).rstrip("/"), TOKEN)
    down = HandoffClient(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=0.5)
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'outbox.db'}")

    async def hand_off(
        sender: str, client: HandoffClient
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        dispatcher = CollectingDispatcher()
        tracker = _with_sender(conversation({**BASE_SLOTS, "order_id": sender[-5:]}), sender)
        events = await ActionHandoff(outbox=lambda: outbox, client=lambda: client).run(
            dispatcher, tracker, {}
        )
        return events, dispatcher.messages

    nobody_events, nobody = await hand_off("conv-10001", up)
    agent = accounts.create_agent(app[ENGINE], "kim", "Kim", "kim-password-1", "agent")
    accounts.start_session(app[ENGINE], agent)  # Kim has the console open
    _, someone = await hand_off("conv-10002", up)
    delayed_events, delayed = await hand_off("conv-10003", down)

    assert [(m["response"], m.get("position")) for m in nobody] == [("utter_handoff_no_agents", 1)]
    assert nobody_events[-1] == {
        "event": "slot",
        "timestamp": None,
        "name": "handoff_status",
        "value": "delivered",
    }
    assert [(m["response"], m.get("position")) for m in someone] == [
        ("utter_handoff_sent", None),
        ("utter_queue_position", 2),
    ]
    assert [m["response"] for m in delayed] == ["utter_handoff_delayed"]
    assert delayed_events[-1]["value"] == "queued"
    assert stored_handoffs(service_settings) == 2


def _with_sender(tracker: Any, sender: str) -> Any:
    tracker.sender_id = sender
    return tracker


async def test_asking_again_while_the_team_has_it_does_not_queue_the_customer_twice(tmp_path: Path) -> None:
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'outbox.db'}")
    nowhere = HandoffClient(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=0.5)
    dispatcher = CollectingDispatcher()
    tracker = _with_sender(conversation({**BASE_SLOTS, "handoff_status": "delivered"}), "conv-again")

    events = await ActionHandoff(outbox=lambda: outbox, client=lambda: nowhere).run(dispatcher, tracker, {})

    assert events == [] and [m["response"] for m in dispatcher.messages] == ["utter_handoff_already"]
    assert outbox.pending_count() == 0
