"""Outbound webhooks against a real receiver on loopback: signatures, retries, dead letters, replay."""

import copy
import dataclasses
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.core.app_keys import ENGINE
from handoff.core.settings import ConfigError, Settings
from handoff.queue import webhooks
from handoff.shared.schema_file import EXAMPLE_FILE

SECRET = "webhook-secret-0123456789"


class Desk:
    """An external help desk that records what it receives and can be told to fail."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.failing = False

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=503 if self.failing else 204)


@pytest.fixture
async def desk(aiohttp_server) -> tuple[Desk, str]:
    receiver = Desk()
    app = web.Application()
    app.router.add_post("/hooks/attune", receiver.handle)
    server = await aiohttp_server(app)
    return receiver, str(server.make_url("/hooks/attune"))


@pytest.fixture
async def client(aiohttp_client, settings: Settings, desk: tuple[Desk, str]) -> TestClient:
    # The app's own worker polls hourly here, so each test drives the passes (and the clock) itself.
    configured = dataclasses.replace(
        settings,
        webhook_urls=(desk[1],),
        webhook_secret=SECRET,
        webhook_max_attempts=3,
        webhook_poll_seconds=3600,
    )
    return await aiohttp_client(create_app(configured))


def example(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(json.loads(EXAMPLE_FILE.read_text())), **changes}


def later(minutes: int) -> datetime:
    return datetime.now(timezone.utc) + timedelta(minutes=minutes)


async def test_a_new_handoff_reaches_the_desk_signed(client: TestClient, desk: tuple[Desk, str]) -> None:
    receiver, _ = desk
    created = await (await client.post("/api/v1/handoffs", json=example())).json()

    accepted = await webhooks.deliver_due(client.app[ENGINE], SECRET, 3, now=later(1))

    assert accepted == 1
    headers, body = receiver.received[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Attune-Signature"], expected)
    assert headers["X-Attune-Event"] == "handoff.created"
    document = json.loads(body)
    assert document["handoff"]["id"] == created["id"]
    assert document["handoff"]["payload"]["summary"] == example()["summary"]
    assert await webhooks.deliver_due(client.app[ENGINE], SECRET, 3, now=later(2)) == 0  # sent once


async def test_a_retried_handoff_is_not_sent_to_the_desk_twice(
    client: TestClient, desk: tuple[Desk, str]
) -> None:
    await client.post("/api/v1/handoffs", json=example())
    await client.post("/api/v1/handoffs", json=example())

    await webhooks.deliver_due(client.app[ENGINE], SECRET, 3, now=later(1))

    assert len(desk[0].received) == 1


async def test_a_failing_desk_is_retried_then_dead_lettered_then_replayed(
    client: TestClient, desk: tuple[Desk, str]
) -> None:
    receiver, _ = desk
    receiver.failing = True
    engine = client.app[ENGINE]
    await client.post("/api/v1/handoffs", json=example())

    for minutes in (1, 30, 60):  # three attempts, each after the backoff has passed
        assert await webhooks.deliver_due(engine, SECRET, 3, now=later(minutes)) == 0

    dead = webhooks.dead_letters(engine)
    assert len(dead) == 1 and dead[0]["attempts"] == 3 and "HTTP 503" in dead[0]["last_error"]
    assert len(receiver.received) == 3
    assert await webhooks.deliver_due(engine, SECRET, 3, now=later(120)) == 0  # dead letters wait

    receiver.failing = False
    assert webhooks.replay(engine) == 1
    assert await webhooks.deliver_due(engine, SECRET, 3, now=later(121)) == 1
    assert webhooks.dead_letters(engine) == []
    first, last = receiver.received[0][0], receiver.received[-1][0]
    assert first["X-Attune-Delivery"] == last["X-Attune-Delivery"]  # the desk can drop duplicates


def test_backoff_grows_and_is_capped() -> None:
    assert [webhooks.backoff(n).total_seconds() for n in (1, 2, 3, 20)] == [5, 10, 20, 600]


def test_webhooks_need_a_secret() -> None:
    with pytest.raises(ConfigError, match="ATTUNE_HANDOFF_WEBHOOK_SECRET"):
        Settings.from_env({"ATTUNE_HANDOFF_WEBHOOKS": "https://desk.example/hooks"})
    with pytest.raises(ConfigError, match="ATTUNE_HANDOFF_WEBHOOKS"):
        Settings.from_env({"ATTUNE_HANDOFF_WEBHOOKS": "ftp://desk", "ATTUNE_HANDOFF_WEBHOOK_SECRET": SECRET})


async def test_the_running_service_delivers_on_its_own(
    aiohttp_client, settings: Settings, desk: tuple[Desk, str]
) -> None:
    import asyncio

    configured = dataclasses.replace(
        settings, webhook_urls=(desk[1],), webhook_secret=SECRET, webhook_poll_seconds=0.05
    )
    service = await aiohttp_client(create_app(configured))
    await service.post("/api/v1/handoffs", json=example())

    for _ in range(100):
        if desk[0].received:
            break
        await asyncio.sleep(0.05)
    assert len(desk[0].received) == 1


def with_personal_data() -> dict[str, Any]:
    payload = example()
    payload["transcript"][0]["text"] = (
        "order 55555, I'm ada@example.com on 07911 123456, card 4111 1111 1111 1111"
    )
    return payload


async def test_the_desk_gets_personal_data_masked_and_the_signature_covers_what_was_sent(
    client: TestClient, desk: tuple[Desk, str]
) -> None:
    await client.post("/api/v1/handoffs", json=with_personal_data())

    await webhooks.deliver_due(client.app[ENGINE], SECRET, 3, now=later(1))

    headers, body = desk[0].received[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Attune-Signature"], expected)
    text = json.loads(body)["handoff"]["payload"]["transcript"][0]["text"]
    assert text == "order 55555, I'm a***@example.com on ••••56, card [card ••••1111]"


async def test_a_cleared_desk_gets_the_payload_unmasked(
    aiohttp_client, settings: Settings, desk: tuple[Desk, str]
) -> None:
    configured = dataclasses.replace(
        settings, webhook_urls=(desk[1],), webhook_secret=SECRET, webhook_poll_seconds=3600
    )
    service = await aiohttp_client(create_app(configured))
    await service.post("/api/v1/handoffs", json=with_personal_data())

    await webhooks.deliver_due(service.app[ENGINE], SECRET, 3, now=later(1), unmasked=True)

    document = json.loads(desk[0].received[0][1])
    assert document["handoff"]["payload"]["transcript"] == with_personal_data()["transcript"]


def test_unmasked_webhooks_are_a_setting_off_by_default() -> None:
    assert Settings.from_env({"ATTUNE_SESSION_KEY": "k" * 32}).webhook_unmasked is False
    assert (
        Settings.from_env(
            {"ATTUNE_SESSION_KEY": "k" * 32, "ATTUNE_HANDOFF_WEBHOOK_UNMASKED": "1"}
        ).webhook_unmasked
        is True
    )
    with pytest.raises(ConfigError, match="ATTUNE_HANDOFF_WEBHOOK_UNMASKED"):
        Settings.from_env({"ATTUNE_HANDOFF_WEBHOOK_UNMASKED": "yes"})
