"""The consent gate (bot/components/consent_gate.py): which identities the server vouches for, and
what it decides for each answer of the handoff service, without a model or a channel.

The handoff service is the real app on a SQLite file where a test is about the customer's choice,
and a small loopback server answering ``POST /api/v1/customers/resolve`` where it is about a
service that fails (an error status, a malformed body, no answer in time, nothing listening).
The channels that call the gate are tested with it in test_channel_identity.py.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.components import consent_gate
from bot.components.consent_gate import ConsentClient, consent_for, gated, identities_of
from handoff.app import create_app
from handoff.core.app_keys import ENGINE
from handoff.core.settings import Settings
from handoff.privacy import customers
from handoff.shared.identity_tokens import VerifiedCustomer
from tests.support.ports import bound_socket, port_of

TOKEN = "consent-gate-test-token-000"
RESOLVE = "/api/v1/customers/resolve"
PHONE = "+447700900123"
SESSION = "web:" + "a" * 32
DANA = VerifiedCustomer("C-1001", "+447700900001", "dana@example.com")
DANA_IDENTITIES = [
    {"kind": "id", "value": "C-1001"},
    {"kind": "phone", "value": "+447700900001"},
    {"kind": "email", "value": "dana@example.com"},
]


def message(sender: str, channel: str | None, metadata: Any = None) -> UserMessage:
    return UserMessage("hello", CollectingOutputChannel(), sender, input_channel=channel, metadata=metadata)


def phone(value: str) -> dict[str, str]:
    return {"kind": "phone", "value": value}


def session(value: str) -> dict[str, str]:
    return {"kind": "session", "value": value}


# --- the identities the server vouches for ---------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "channel", "expected"),
    [
        (f"sms:{PHONE}", "twilio", [phone(PHONE)]),
        (f"whatsapp:{PHONE}", "twilio", [phone(PHONE)]),  # one customer, whichever app they text from
        (SESSION, "socketio", [session(SESSION)]),
        ("rest:dana", "rest", [session("rest:dana")]),
    ],
    ids=["sms", "whatsapp", "web-chat", "rest"],
)
def test_an_unverified_customer_is_only_what_their_channel_proves(
    sender: str, channel: str, expected: list[dict[str, str]]
) -> None:
    assert identities_of(message(sender, channel), None) == expected


@pytest.mark.parametrize(
    ("sender", "channel"),
    [
        (f"sms:{PHONE}", "rest"),  # a REST client naming an SMS conversation
        (f"whatsapp:{PHONE}", "socketio"),
        (SESSION, "rest"),
        ("rest:dana", "socketio"),
        ("rest:dana", "twilio"),
        (PHONE, "twilio"),  # an id from before namespacing
        ("dana", "rest"),
        ("rest:dana", "facebook"),  # a channel the gate does not know
        ("rest:dana", None),
        ("", "rest"),
    ],
)
def test_an_id_its_channel_did_not_issue_vouches_for_nobody(sender: str, channel: str | None) -> None:
    assert identities_of(message(sender, channel), None) == []


@pytest.mark.parametrize(
    ("sender", "channel", "expected"),
    [
        (f"sms:{PHONE}", "twilio", [phone(PHONE), *DANA_IDENTITIES]),
        (SESSION, "socketio", [*DANA_IDENTITIES, session(SESSION)]),
        # A REST sender is the client's choice: never linked to a verified customer.
        ("rest:dana", "rest", DANA_IDENTITIES),
        # A verified token is the customer whatever the conversation id says.
        (f"sms:{PHONE}", "rest", DANA_IDENTITIES),
        ("rest:dana", "facebook", DANA_IDENTITIES),
    ],
    ids=["sms", "web-chat", "rest", "rest-naming-sms", "unknown-channel"],
)
def test_a_verified_customer_adds_their_tokens_claims(
    sender: str, channel: str, expected: list[dict[str, str]]
) -> None:
    assert identities_of(message(sender, channel), DANA) == expected


def test_a_token_with_only_an_id_adds_only_the_id() -> None:
    assert identities_of(message("rest:x", "rest"), VerifiedCustomer("C-7")) == [
        {"kind": "id", "value": "C-7"}
    ]


# --- the customer's choice, from the handoff service -----------------------------------------------


@pytest.fixture
async def consent_client() -> AsyncIterator[ConsentClient]:
    client = ConsentClient()
    yield client
    # ConsentClient lives as long as the Rasa server and has no close(); a test's session ends with it.
    if client._session is not None:
        await client._session.close()


@pytest.fixture
async def handoff_service(
    aiohttp_server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> web.Application:
    """The handoff service on a SQLite file, where the gate finds it (with the token it requires)."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'handoff.db'}", api_token=TOKEN))
    server = await aiohttp_server(app)
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", str(server.make_url("/")))  # a trailing slash is fine
    monkeypatch.setenv("ATTUNE_HANDOFF_API_TOKEN", TOKEN)
    return app


def choose(app: web.Application, identity: dict[str, str], choice: str) -> str:
    """Records the customer's choice as the opt-out action would; their customer id."""
    consent = customers.set_emotion_processing(
        app[ENGINE],
        [customers.normalise(identity["kind"], identity["value"])],
        choice,
        "sms",
        "conversation",
        customers.Linking(may_merge=True, source="consent"),
    )
    assert consent.customer is not None
    return consent.customer


async def test_an_opted_out_customer_is_off(
    handoff_service: web.Application, consent_client: ConsentClient
) -> None:
    customer = choose(handoff_service, phone(PHONE), "off")

    found = await consent_for(message(f"sms:{PHONE}", "twilio"), None, consent_client)

    assert found == {"customer": customer, "emotion_processing": "off", "identities": [phone(PHONE)]}


async def test_an_opt_out_follows_the_verified_customer_to_another_channel(
    handoff_service: web.Application, consent_client: ConsentClient
) -> None:
    customer = choose(handoff_service, phone("+447700900001"), "off")  # opted out by SMS

    found = await consent_for(message(SESSION, "socketio"), DANA, consent_client)  # now in the web chat

    assert found == {
        "customer": customer,
        "emotion_processing": "off",
        "identities": [*DANA_IDENTITIES, session(SESSION)],
        "verified": {"id": "C-1001", "phone": "+447700900001", "email": "dana@example.com"},
    }


async def test_a_client_naming_an_opted_out_number_is_not_that_customer(
    handoff_service: web.Application, consent_client: ConsentClient
) -> None:
    opted_out = choose(handoff_service, phone(PHONE), "off")

    found = await consent_for(message(f"sms:{PHONE}", "rest"), None, consent_client)

    assert found == {"emotion_processing": "unknown", "identities": []}  # nobody to ask about
    found = await consent_for(message(f"rest:{PHONE}", "rest"), None, consent_client)
    assert found["emotion_processing"] == "on" and found["customer"] != opted_out


async def test_a_new_customer_is_on_and_an_opt_in_turns_it_back_on(
    handoff_service: web.Application, consent_client: ConsentClient
) -> None:
    first = await consent_for(message(SESSION, "socketio"), None, consent_client)
    choose(handoff_service, session(SESSION), "off")
    choose(handoff_service, session(SESSION), "on")
    again = await consent_for(message(SESSION, "socketio"), None, consent_client)

    assert first["emotion_processing"] == again["emotion_processing"] == "on"
    assert first["customer"] == again["customer"]


async def test_nobody_is_asked_about_a_message_without_identities(consent_client: ConsentClient) -> None:
    class MustNotBeAsked(ConsentClient):
        async def resolve(self, identities: list[dict[str, str]]) -> dict[str, str]:
            raise AssertionError(f"asked about {identities}")

    assert await consent_for(message("dana", "rest"), None, MustNotBeAsked()) == {
        "emotion_processing": "unknown",
        "identities": [],
    }


async def test_a_wrong_service_token_leaves_emotion_processing_unknown(
    handoff_service: web.Application, consent_client: ConsentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    choose(handoff_service, phone(PHONE), "on")
    monkeypatch.setenv("ATTUNE_HANDOFF_API_TOKEN", "not-the-token")

    found = await consent_for(message(f"sms:{PHONE}", "twilio"), DANA, consent_client)

    assert found == {
        "emotion_processing": "unknown",
        "identities": [phone(PHONE), *DANA_IDENTITIES],
        "verified": DANA.to_dict(),
    }


async def test_a_failing_store_leaves_emotion_processing_unknown(
    handoff_service: web.Application, consent_client: ConsentClient, caplog: pytest.LogCaptureFixture
) -> None:
    choose(handoff_service, phone(PHONE), "on")
    with handoff_service[ENGINE].begin() as connection:
        connection.exec_driver_sql("DROP TABLE customer_identities")

    with caplog.at_level(logging.WARNING, logger=consent_gate.__name__):
        found = await consent_for(message(f"sms:{PHONE}", "twilio"), None, consent_client)

    assert found == {"emotion_processing": "unknown", "identities": [phone(PHONE)]}
    assert "consent lookup failed" in caplog.text and "500" in caplog.text


# --- a service that answers badly, late or not at all ----------------------------------------------


@dataclass
class StubService:
    """Answers every resolve with ``status`` and ``body`` (raw text), after ``release`` when it is given."""

    status: int = 200
    body: str = '{"customer": "cust-1", "emotion_processing": "off"}'
    release: asyncio.Event | None = None
    requests: list[tuple[dict[str, str], Any]] = field(default_factory=list)

    async def resolve(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.json()))
        if self.release is not None:
            await self.release.wait()
        return web.Response(status=self.status, text=self.body, content_type="application/json")


@pytest.fixture
async def stub(aiohttp_server: Any, monkeypatch: pytest.MonkeyPatch) -> StubService:
    service = StubService()
    app = web.Application()
    app.router.add_post(RESOLVE, service.resolve)
    server = await aiohttp_server(app)
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", str(server.make_url("")))
    monkeypatch.delenv("ATTUNE_HANDOFF_API_TOKEN", raising=False)
    return service


async def test_the_gate_asks_with_the_identities_and_the_service_token(
    stub: StubService, consent_client: ConsentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await consent_client.resolve([phone(PHONE)]) == {"customer": "cust-1", "emotion_processing": "off"}
    monkeypatch.setenv("ATTUNE_HANDOFF_API_TOKEN", TOKEN)
    await consent_client.resolve([session(SESSION)])

    [(open_headers, open_body), (headers, body)] = stub.requests
    assert "Authorization" not in open_headers  # no token configured: none sent (an open API)
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert (open_body, body) == ({"identities": [phone(PHONE)]}, {"identities": [session(SESSION)]})


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (503, '{"error": "unavailable"}'),
        (500, "Internal Server Error"),
        (200, "not json"),
        (200, '["cust-1", "off"]'),
        (200, '{"emotion_processing": "off"}'),  # no customer
        (200, '{"customer": "cust-1"}'),  # no choice
    ],
    ids=["503", "500-text", "not-json", "not-an-object", "no-customer", "no-choice"],
)
async def test_an_answer_that_is_not_a_choice_leaves_emotion_processing_unknown(
    stub: StubService, consent_client: ConsentClient, status: int, body: str
) -> None:
    stub.status, stub.body = status, body

    found = await consent_for(message(f"sms:{PHONE}", "twilio"), None, consent_client)

    assert found == {"emotion_processing": "unknown", "identities": [phone(PHONE)]}
    assert len(stub.requests) == 1


async def test_a_service_that_does_not_answer_in_time_leaves_emotion_processing_unknown(
    stub: StubService, consent_client: ConsentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real limit is a second; a tenth keeps the test quick and the behaviour the same.
    monkeypatch.setattr(consent_gate, "TIMEOUT_SECONDS", 0.1)
    stub.release = asyncio.Event()

    found = await consent_for(message(SESSION, "socketio"), None, consent_client)
    stub.release.set()

    assert found == {"emotion_processing": "unknown", "identities": [session(SESSION)]}
    assert len(stub.requests) == 1  # it was asked, and did not answer


async def test_a_service_nobody_runs_leaves_emotion_processing_unknown(
    consent_client: ConsentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with bound_socket() as sock:  # bound, not listening: the connection is refused
        monkeypatch.setenv("ATTUNE_HANDOFF_URL", f"http://127.0.0.1:{port_of(sock)}")
        found = await consent_for(message(SESSION, "socketio"), DANA, consent_client)

    assert found == {
        "emotion_processing": "unknown",
        "identities": [*DANA_IDENTITIES, session(SESSION)],
        "verified": DANA.to_dict(),
    }


# --- gated: the wrapper every channel puts around the bot ------------------------------------------


@pytest.fixture
async def gate_state(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """What ``gated`` keeps for the life of the process, for this test alone: the shared client, with
    its session (an earlier test's is tied to that test's closed event loop) and the answers it holds.
    The log masking is a start-up patch (bot/components/rasa_patches.py), tested in test_rasa_patches.py.
    """
    monkeypatch.setattr(consent_gate, "_CLIENT", ConsentClient())
    yield
    ours = consent_gate._CLIENT._session
    if ours is not None:
        await ours.close()


async def passed_on(metadata: Any, sender: str = f"sms:{PHONE}", channel: str = "twilio") -> UserMessage:
    """The message the bot receives once ``gated`` has let it through."""
    received: list[UserMessage] = []

    async def bot(gated_message: UserMessage) -> None:
        received.append(gated_message)

    await gated(bot)(message(sender, channel, metadata))
    [one] = received
    return one


@pytest.mark.usefixtures("gate_state")
async def test_gated_replaces_what_is_under_attune_and_keeps_the_rest(stub: StubService) -> None:
    metadata: dict[str, Any] = {
        "page": "orders",
        # As verified_identity.server_metadata wrote it: the channel's verified claims and client address.
        "attune": {"verified": DANA.to_dict(), "client_address": "203.0.113.7", "emotion_processing": "on"},
    }

    received = await passed_on(metadata)

    assert received.metadata == {
        "page": "orders",
        "attune": {
            "customer": "cust-1",
            "emotion_processing": "off",
            "identities": [phone(PHONE), *DANA_IDENTITIES],
            "verified": DANA.to_dict(),
            "client_address": "203.0.113.7",
        },
    }
    assert metadata["attune"]["emotion_processing"] == "on"  # the caller's dict is not changed


@pytest.mark.usefixtures("gate_state")
@pytest.mark.parametrize("metadata", [None, [], "attune", {"attune": "on"}, {"attune": {"verified": "C-1"}}])
async def test_gated_metadata_that_is_not_the_servers_proves_nothing(
    stub: StubService, metadata: Any
) -> None:
    received = await passed_on(metadata, sender="dana", channel="rest")

    assert received.metadata == {"attune": {"emotion_processing": "unknown", "identities": []}}
    assert stub.requests == []
