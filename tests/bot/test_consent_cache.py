"""The consent gate's cache (bot/components/consent_gate.py, handoff/privacy/consent_epoch.py): two
Rasa instances (two ConsentClients) against one real handoff service on a SQLite file, counting the
calls each message makes; a stub server where the service misbehaves.

What must hold: a held answer saves the service a resolve but never the question (one call per
message, answered 304), an opt-out recorded anywhere is honoured by every instance from its next
message, and nothing held ever widens consent when the service is away.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from sanic import Blueprint

from bot.components import consent_gate
from bot.components.consent_gate import ConsentClient, consent_for
from bot.components.turn_guard import guard_server
from handoff.app import create_app
from handoff.core.settings import Settings
from handoff.shared.identity_tokens import VerifiedCustomer
from tests.support.ports import bound_socket, port_of

TOKEN = "consent-cache-test-token-000"
RESOLVE = "/api/v1/customers/resolve"
SESSION = "web:" + "c" * 32
SESSION_IDENTITY = {"kind": "session", "value": SESSION}
LOGIN = VerifiedCustomer("C-2002")


def message(sender: str = SESSION, channel: str = "socketio") -> UserMessage:
    return UserMessage("hello", CollectingOutputChannel(), sender, input_channel=channel)


@dataclass
class Calls:
    """Every request the handoff service answered: (method, path, status)."""

    seen: list[tuple[str, str, int]] = field(default_factory=list)

    def resolves(self) -> list[int]:
        return [status for method, path, status in self.seen if (method, path) == ("POST", RESOLVE)]


@dataclass
class Service:
    app: web.Application
    url: str
    calls: Calls


@pytest.fixture
async def service(aiohttp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Service:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'handoff.db'}", api_token=TOKEN))
    calls = Calls()

    @web.middleware
    async def count(request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]) -> Any:
        response = await handler(request)
        calls.seen.append((request.method, request.path, response.status))
        return response

    app.middlewares.append(count)
    server = await aiohttp_server(app)
    url = str(server.make_url(""))
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", url)
    monkeypatch.setenv("ATTUNE_HANDOFF_API_TOKEN", TOKEN)
    return Service(app, url, calls)


@pytest.fixture
async def instances() -> AsyncIterator[tuple[ConsentClient, ConsentClient]]:
    """The consent gates of two Rasa instances: nothing shared but the handoff service."""
    pair = (ConsentClient(), ConsentClient())
    yield pair
    for client in pair:
        if client._session is not None:
            await client._session.close()


async def choose(service: Service, identities: list[dict[str, str]], choice: str) -> None:
    """The customer's choice, recorded the way the action server (or a CRM) records it: the API."""
    client = ConsentClient()
    try:
        async with client._http().post(
            f"{service.url}/api/v1/customers/consent",
            json={"identities": identities, "emotion_processing": choice, "channel": "api", "source": "api"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ) as response:
            assert response.status == 200, await response.text()
    finally:
        await client._http().close()


async def choice_of(client: ConsentClient, verified: VerifiedCustomer | None = None) -> str:
    return str((await consent_for(message(), verified, client))["emotion_processing"])


# --- one call per message, and a cheap one ----------------------------------------------------------


async def test_a_held_answer_is_revalidated_not_resolved_again(
    service: Service, instances: tuple[ConsentClient, ConsentClient]
) -> None:
    gate, _ = instances
    answers = [await consent_for(message(), None, gate) for _ in range(5)]

    assert all(answer == answers[0] for answer in answers) and answers[0]["emotion_processing"] == "on"
    # One call per message, as before; only the first resolves (a write transaction), the rest are
    # one read each.
    assert service.calls.resolves() == [200, 304, 304, 304, 304]


async def test_a_gate_that_holds_nothing_resolves_every_message(service: Service) -> None:
    uncached = ConsentClient(max_cached=0)  # what every message cost before the cache
    try:
        for _ in range(3):
            await consent_for(message(), None, uncached)
    finally:
        await uncached._http().close()

    assert service.calls.resolves() == [200, 200, 200]


# --- an opt-out anywhere, honoured everywhere from the next message -----------------------------------


async def test_an_opt_out_through_one_instance_is_honoured_by_the_other_from_its_next_message(
    service: Service, instances: tuple[ConsentClient, ConsentClient]
) -> None:
    first, second = instances
    assert [await choice_of(first), await choice_of(second)] == ["on", "on"]  # both hold "on"

    await choose(service, [SESSION_IDENTITY], "off")  # the opt-out, through the first's action server

    assert [await choice_of(second), await choice_of(first)] == ["off", "off"]
    await choose(service, [SESSION_IDENTITY], "on")
    assert [await choice_of(second), await choice_of(first)] == ["on", "on"]
    assert service.calls.resolves() == [200, 200, 200, 200, 200, 200]  # every change: asked in full


async def test_a_merge_through_one_instance_reaches_what_the_other_holds(
    service: Service, instances: tuple[ConsentClient, ConsentClient]
) -> None:
    first, second = instances
    assert await choice_of(second) == "on"  # holds the anonymous web session
    # Opted out elsewhere, while logged in.
    await choose(service, [{"kind": "id", "value": LOGIN.customer_id}], "off")

    # The customer logs in on the web chat: the first instance presents both, and they merge
    # ("most private wins").
    assert await choice_of(first, LOGIN) == "off"

    assert await choice_of(second) == "off"


async def test_an_opt_out_on_an_unrelated_customer_costs_one_resolve_and_changes_nothing(
    service: Service, instances: tuple[ConsentClient, ConsentClient]
) -> None:
    gate, _ = instances
    await choice_of(gate)
    await choose(service, [{"kind": "phone", "value": "+447700900999"}], "off")

    assert [await choice_of(gate), await choice_of(gate)] == ["on", "on"]
    assert service.calls.resolves() == [200, 200, 304]


# --- the service away: nothing held widens consent ----------------------------------------------------


@pytest.fixture
def service_down(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Points the gates at a port where nothing listens (the connection is refused)."""

    def down() -> None:
        with bound_socket() as sock:
            monkeypatch.setenv("ATTUNE_HANDOFF_URL", f"http://127.0.0.1:{port_of(sock)}")

    return down


async def test_with_the_service_down_a_held_opt_out_stays_and_a_held_on_is_unknown(
    service: Service,
    instances: tuple[ConsentClient, ConsentClient],
    service_down: Callable[[], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    opted_out, opted_in = instances
    await choose(service, [SESSION_IDENTITY], "off")
    held_off = await consent_for(message(), None, opted_out)
    other = message(sender="web:" + "d" * 32)
    assert (await consent_for(other, None, opted_in))["emotion_processing"] == "on"

    service_down()

    assert await consent_for(message(), None, opted_out) == held_off  # the customer id kept too
    assert await consent_for(other, None, opted_in) == {
        "emotion_processing": "unknown",
        "identities": [{"kind": "session", "value": other.sender_id}],
    }
    assert (await consent_for(message(), None, opted_in))["emotion_processing"] == "unknown"  # never held
    assert "the customer's opt-out kept" in caplog.text


async def test_an_opt_in_the_gate_cannot_confirm_is_not_used(
    service: Service,
    instances: tuple[ConsentClient, ConsentClient],
    service_down: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gate, _ = instances
    await choose(service, [SESSION_IDENTITY], "off")
    assert await choice_of(gate) == "off"
    await choose(service, [SESSION_IDENTITY], "on")

    service_down()
    assert await choice_of(gate) == "off"  # narrower than the truth for a while, never wider

    monkeypatch.setenv("ATTUNE_HANDOFF_URL", service.url)  # back
    assert await choice_of(gate) == "on"


# --- a service that answers what it should not --------------------------------------------------------


@dataclass
class Stub:
    status: int = 200
    etag: str | None = '"0123abcd"'
    body: str = '{"customer": "cust-1", "emotion_processing": "on"}'
    held: list[str | None] = field(default_factory=list)
    gets: list[str] = field(default_factory=list)

    async def resolve(self, request: web.Request) -> web.Response:
        self.held.append(request.headers.get("If-None-Match"))
        headers = {"ETag": self.etag} if self.etag else {}
        return web.Response(
            status=self.status, text=self.body, headers=headers, content_type="application/json"
        )

    async def healthz(self, request: web.Request) -> web.Response:
        self.gets.append(request.path)
        return web.json_response({"status": "ok"})


@pytest.fixture
async def stub(aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch) -> Stub:
    service = Stub()
    app = web.Application()
    app.router.add_post(RESOLVE, service.resolve)
    app.router.add_get("/healthz", service.healthz)
    server = await aiohttp_server(app)
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", str(server.make_url("")))
    monkeypatch.delenv("ATTUNE_HANDOFF_API_TOKEN", raising=False)
    return service


async def test_a_304_for_an_answer_the_gate_does_not_hold_is_not_an_answer(
    stub: Stub, instances: tuple[ConsentClient, ConsentClient]
) -> None:
    stub.status, stub.body = 304, ""

    assert await choice_of(instances[0]) == "unknown"


@pytest.mark.parametrize(
    ("etag", "body"),
    [
        (None, '{"customer": "cust-1", "emotion_processing": "on"}'),
        ("0123abcd", '{"customer": "cust-1", "emotion_processing": "on"}'),  # not quoted
        ('"not hex"', '{"customer": "cust-1", "emotion_processing": "on"}'),
        ('"0123abcd"', '{"customer": "cust-1", "emotion_processing": "maybe"}'),
    ],
    ids=["no-etag", "bare", "not-a-token", "not-a-choice"],
)
async def test_an_answer_without_a_usable_stamp_is_not_held(
    stub: Stub, instances: tuple[ConsentClient, ConsentClient], etag: str | None, body: str
) -> None:
    stub.etag, stub.body = etag, body
    gate, _ = instances

    await choice_of(gate)
    await choice_of(gate)

    assert stub.held == [None, None]  # asked in full both times


async def test_the_gate_holds_a_bounded_number_of_answers(stub: Stub) -> None:
    gate = ConsentClient(max_cached=2)
    senders = ["web:" + c * 32 for c in "efg"]
    try:
        for sender in [*senders, senders[2], senders[0]]:
            await consent_for(message(sender), None, gate)
    finally:
        await gate._http().close()

    # e, f, g asked in full; g still held (revalidated); e was dropped when g came in.
    assert stub.held == [None, None, None, '"0123abcd"', None]


# --- warm at start-up ---------------------------------------------------------------------------------


async def test_warming_up_opens_the_connection_before_the_first_message(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = ConsentClient()
    monkeypatch.setattr(consent_gate, "_CLIENT", gate)
    try:
        await consent_gate.warm_up(None, None)
        connector = gate._http().connector
        assert connector is not None
        pooled = sum(len(conns) for conns in connector._conns.values())
    finally:
        await gate._http().close()

    assert stub.gets == ["/healthz"] and pooled == 1


async def test_warming_up_with_the_service_away_only_says_so(
    service_down: Callable[[], None], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    gate = ConsentClient()
    monkeypatch.setattr(consent_gate, "_CLIENT", gate)
    service_down()
    try:
        await consent_gate.warm_up(None, None)
    finally:
        await gate._http().close()

    assert "could not reach the handoff service at start-up" in caplog.text


def test_every_channel_blueprint_warms_the_gate_once_the_server_runs() -> None:
    blueprint = guard_server(Blueprint("consent_cache_test", __name__))

    assert (consent_gate.warm_up, "after_server_start") in [
        (listener.listener, listener.event) for listener in blueprint._future_listeners
    ]
