"""Issue 13 at the Rasa server's channels: who a customer is comes only from what the server verified.

REST and socket.io served by Sanic on loopback as Rasa serves them, with a recording bot (no
model).  The consent gate runs for real; the handoff service it asks is absent, so every answer is
"unknown" and what is checked is the identities it would have asserted, from the message metadata.
"""

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
import socketio
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.components.checked_rest_channel import CheckedRestInput
from bot.components.web_chat_channel import INPUT_ERROR_EVENT, WebChatInput, allowed_origins
from handoff.shared.identity_tokens import issue_session_id, sign_identity_token, verified_session
from tests.support.ports import free_port
from tests.support.sanic_server import serve_channels

REST = "/webhooks/rest/webhook"
REPLY_TIMEOUT = 10.0
QUIET = 0.5  # how long a client waits to be sure nothing more comes (not a timing goal)
SESSION_KEY = "test-session-key-0123456789abcdefghij"
IDENTITY_KEY = "test-identity-key-0123456789abcdefghi"
PAGE = "http://127.0.0.1:5056"
CUSTOMER = {"customer_id": "C-1001", "phone": "+447700900001", "email": "dana@example.com"}
CUSTOMER_IDENTITIES = [
    {"kind": "id", "value": "C-1001"},
    {"kind": "phone", "value": "+447700900001"},
    {"kind": "email", "value": "dana@example.com"},
]


def token(key: str = IDENTITY_KEY, **changes: Any) -> str:
    return sign_identity_token(key=key, **{**CUSTOMER, **changes})


@dataclasses.dataclass
class Served:
    base_url: str
    received: list[UserMessage]
    web_chat: WebChatInput


@pytest.fixture(autouse=True)
def no_handoff_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(Sanic, "test_mode", True)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    web_chat = WebChatInput(SESSION_KEY, IDENTITY_KEY, origins=[PAGE])
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)
        await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")

    async with serve_channels(
        (CheckedRestInput(IDENTITY_KEY), web_chat), bot, name="identity_test"
    ) as base_url:
        yield Served(base_url, received, web_chat)


async def rest(served: Served, body: dict[str, Any], bearer: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(served.base_url + REST, json=body, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


def gate(message: UserMessage) -> dict[str, Any]:
    """What the server asserts about who the customer is (where they connect from: test_client_address.py)."""
    return {key: value for key, value in message.metadata["attune"].items() if key != "client_address"}


# --- REST ----------------------------------------------------------------------------------------


async def test_a_rest_clients_customer_claim_is_dropped_and_only_its_own_session_asserted(
    served: Served,
) -> None:
    claims = {
        "customer": {"id": "C-9001", "phone": "+447700900999"},
        "attune": {"verified": {"id": "C-9001"}, "emotion_processing": "on"},
        "identity_token": "not-a-token",
        "page": "orders",
    }

    status, _ = await rest(served, {"sender": "anon", "message": "hi", "metadata": claims})

    assert status == 200
    [message] = served.received
    assert {key: value for key, value in message.metadata.items() if key != "attune"} == {"page": "orders"}
    assert gate(message) == {
        "emotion_processing": "unknown",
        "identities": [{"kind": "session", "value": "rest:anon"}],
    }


@pytest.mark.parametrize(
    "bearer",
    [
        token(key="another-sites-key-0123456789abcdefghij"),
        token(now=time.time() - 3 * 24 * 3600),  # expired two days ago
        jwt.encode({"sub": "C-1001", "aud": "attune", "iat": int(time.time()), "exp": 2**31}, "", "none"),
        token(lifetime=30 * 24 * 3600),  # longer than a day
        "C-1001",
    ],
    ids=["other-key", "expired", "unsigned", "too-long-lived", "not-a-jwt"],
)
async def test_a_rest_token_that_does_not_verify_leaves_the_customer_anonymous(
    served: Served, bearer: str
) -> None:
    status, answer = await rest(served, {"sender": "anon", "message": "hi"}, bearer)

    assert status == 200 and answer[0]["text"] == "echo: hi"  # answered, not an error
    [message] = served.received
    assert gate(message) == {
        "emotion_processing": "unknown",
        "identities": [{"kind": "session", "value": "rest:anon"}],
    }


async def test_a_valid_rest_token_is_the_customer_and_the_chosen_sender_is_not_linked(
    served: Served,
) -> None:
    status, _ = await rest(served, {"sender": "dana", "message": "hi"}, token())

    assert status == 200
    [message] = served.received
    assert gate(message)["verified"] == {
        "id": "C-1001",
        "phone": "+447700900001",
        "email": "dana@example.com",
    }
    assert gate(message)["identities"] == CUSTOMER_IDENTITIES  # no {"kind": "session"}


async def test_a_rest_sender_that_is_an_sms_customers_number_gets_a_rest_conversation(
    served: Served,
) -> None:
    status, answer = await rest(served, {"sender": "+447700900123", "message": "hi"})

    assert status == 200
    assert answer == [{"recipient_id": "+447700900123", "text": "echo: hi"}]
    [message] = served.received
    assert message.sender_id == "rest:+447700900123"  # not sms:+447700900123
    assert gate(message)["identities"] == [{"kind": "session", "value": "rest:+447700900123"}]


async def test_rest_refuses_streaming_since_missed_messages_could_not_come_first(served: Served) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(served.base_url + REST + "?stream=true", json={"sender": "s", "message": "hi"}) as reply,
    ):
        assert reply.status == 400
    assert served.received == []


# --- socket.io -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Chat:
    client: socketio.AsyncClient
    events: "asyncio.Queue[tuple[str, Any]]"

    async def next(self) -> tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout=REPLY_TIMEOUT)

    async def start(self, request: Any = None) -> str:
        await self.client.emit("session_request", request)
        event, signed = await self.next()
        assert event == "session_confirm", (event, signed)
        return str(signed)

    async def nothing_more(self) -> bool:
        await asyncio.sleep(QUIET)
        return self.events.empty()


@contextlib.asynccontextmanager
async def chat(
    served: Served, auth: Any = None, headers: dict[str, str] | None = None
) -> AsyncIterator[Chat]:
    client = socketio.AsyncClient(reconnection=False)
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    for name in ("session_confirm", "bot_uttered", INPUT_ERROR_EVENT):
        client.on(name, lambda data, name=name: events.put_nowait((name, data)))
    await client.connect(
        served.base_url,
        socketio_path="/socket.io",
        transports=["websocket"],
        auth=auth,
        headers=headers or {},
    )
    try:
        yield Chat(client, events)
    finally:
        await client.disconnect()


def conversation(signed: str) -> str:
    return f"web:{verified_session(signed, SESSION_KEY)}"


async def test_a_session_the_server_did_not_sign_is_never_joined(served: Served) -> None:
    async with chat(served) as victim, chat(served) as attacker:
        signed = await victim.start()
        session = signed.split(".")[0]
        forged = session + "." + "A" * (len(signed) - len(session) - 1)
        given = [
            await attacker.start({"session_id": guess})
            for guess in (session, forged, issue_session_id("k" * 32))
        ]

        assert served.web_chat.sio is not None
        await served.web_chat.sio.emit("bot_uttered", {"text": "for the victim"}, room=conversation(signed))

        assert await victim.next() == ("bot_uttered", {"text": "for the victim"})
        assert await attacker.nothing_more()
    assert all(verified_session(other, SESSION_KEY) not in (None, session) for other in given)


async def test_a_signed_session_is_joined_again_by_a_new_connection(served: Served) -> None:
    async with chat(served) as first:
        signed = await first.start()
    async with chat(served) as again:
        assert await again.start({"session_id": signed}) == signed
        await again.client.emit("user_uttered", {"message": "back", "session_id": signed})
        assert await again.next() == ("bot_uttered", {"text": "echo: back"})
    assert [message.sender_id for message in served.received] == [conversation(signed)]


async def test_a_message_naming_another_session_or_before_any_session_is_refused(served: Served) -> None:
    async with chat(served) as victim, chat(served) as attacker:
        before = await attacker.client.call("user_uttered", {"message": "hi"}, timeout=REPLY_TIMEOUT)
        assert await attacker.next() == (INPUT_ERROR_EVENT, before)  # the event, besides the ack
        victims = await victim.start()
        await attacker.start()
        other = await attacker.client.call(
            "user_uttered", {"message": "hi", "session_id": victims}, timeout=REPLY_TIMEOUT
        )

        assert "session_request first" in before["detail"]
        assert "not this connection's session" in other["detail"]
        assert served.received == []
        assert await victim.nothing_more()


async def test_a_valid_token_in_the_connect_auth_is_the_customer(served: Served) -> None:
    async with chat(served, auth={"token": token()}) as customer:
        signed = await customer.start()
        await customer.client.emit("user_uttered", {"message": "hi"})  # no session_id: the socket's
        assert (await customer.next())[0] == "bot_uttered"

    [message] = served.received
    assert message.sender_id == conversation(signed)
    assert gate(message)["verified"]["id"] == "C-1001"
    assert gate(message)["identities"] == [
        *CUSTOMER_IDENTITIES,
        {"kind": "session", "value": conversation(signed)},
    ]


async def test_a_token_in_custom_data_is_verified_and_not_stored(served: Served) -> None:
    async with chat(served) as customer:
        await customer.start({"customData": {"identity_token": token(), "language": "en"}})
        await customer.client.emit("user_uttered", {"message": "one", "customData": {"page": "faq"}})
        await customer.client.emit(
            "user_uttered", {"message": "two", "customData": {"identity_token": token(customer_id="C-2")}}
        )
        await customer.next()
        await customer.next()

    first, second = served.received
    assert (first.metadata["page"], gate(first)["verified"]["id"]) == ("faq", "C-1001")
    assert gate(second)["verified"]["id"] == "C-2"  # the message's own token comes first
    assert all("identity_token" not in message.metadata for message in served.received)


async def test_a_forged_token_or_customer_claim_on_socketio_is_anonymous(served: Served) -> None:
    claims = {"customer": {"id": "C-9001"}, "identity_token": token(key="x" * 40)}
    async with chat(served, auth={"token": token(now=time.time() - 3 * 24 * 3600)}) as customer:
        signed = await customer.start({"metadata": claims})
        await customer.client.emit(
            "user_uttered", {"message": "hi", "metadata": claims, "customData": claims}
        )
        await customer.next()

    [message] = served.received
    assert "customer" not in message.metadata
    assert gate(message) == {
        "emotion_processing": "unknown",
        "identities": [{"kind": "session", "value": conversation(signed)}],
    }


async def test_a_page_from_another_origin_cannot_open_the_socket(served: Served) -> None:
    with pytest.raises(socketio.exceptions.ConnectionError):
        async with chat(served, headers={"Origin": "https://evil.example"}):
            pass
    async with chat(served, headers={"Origin": PAGE}) as own:
        assert verified_session(await own.start(), SESSION_KEY) is not None


def test_the_allowed_origins_are_configured_or_the_web_chat_pages() -> None:
    configured = {"ATTUNE_CORS_ORIGINS": "https://shop.example  https://www.shop.example"}

    assert allowed_origins(configured) == ["https://shop.example", "https://www.shop.example"]
    assert allowed_origins({"ATTUNE_HANDOFF_URL": "http://127.0.0.1:7000"}) == [
        "http://127.0.0.1:7000",
        "http://localhost:7000",
    ]
    assert allowed_origins({"ATTUNE_HANDOFF_URL": "https://help.example/"}) == ["https://help.example"]


@pytest.mark.parametrize(
    ("credentials", "detail"),
    [({}, "ATTUNE_SESSION_KEY must be at least 32"), ({"session_key": "short"}, "(got 5)")],
    ids=["missing", "short"],
)
def test_the_web_chat_does_not_start_without_a_strong_session_key(
    credentials: dict[str, str], detail: str
) -> None:
    with pytest.raises(Exception, match=detail.replace("(", r"\(").replace(")", r"\)")):
        WebChatInput.from_credentials(credentials)
