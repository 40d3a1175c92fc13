"""REST and socket.io served by Sanic on loopback as Rasa serves them, with a recording bot.

No model: the bot is a callback that records each UserMessage and answers through its output
channel, as Rasa does.  What is checked: ids, text and metadata are refused with the reason before
the bot (and so any store) sees them, the text the bot gets is encodable, and the server refuses
an oversized body with 413 from its Content-Length without reading it.
"""

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import socketio
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.components.checked_rest_channel import CheckedRestInput
from bot.components.input_checks import (
    MAX_BODY_BYTES,
    MAX_ID_CHARS,
    MAX_METADATA_DEPTH,
    MAX_TEXT_CHARS,
)
from bot.components.web_chat_channel import INPUT_ERROR_EVENT, WebChatInput
from handoff.shared.identity_tokens import verified_session
from tests.support.ports import free_port
from tests.support.sanic_server import serve_channels

SESSION_KEY = "test-session-key-0123456789abcdefghij"

REST = "/webhooks/rest/webhook"
REPLY_TIMEOUT = 10.0


@dataclasses.dataclass
class Served:
    base_url: str
    app: Sanic
    received: list[UserMessage]


@pytest.fixture(autouse=True)
def no_handoff_service(monkeypatch: pytest.MonkeyPatch) -> None:
    # The consent gate's lookup fails fast (nothing listens) and the message goes on, "unknown".
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(Sanic, "test_mode", True)


@contextlib.asynccontextmanager
async def serve() -> AsyncIterator[Served]:
    received: list[UserMessage] = []
    apps: list[Sanic] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)
        await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")

    channels = (CheckedRestInput(), WebChatInput(SESSION_KEY))
    async with serve_channels(
        channels, bot, name="channels_test", prepare=lambda app, _: apps.append(app)
    ) as base_url:
        yield Served(base_url, apps[0], received)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    async with serve() as running:
        yield running


async def post_raw(served: Served, body: bytes) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            served.base_url + REST, data=body, headers={"Content-Type": "application/json"}
        ) as response,
    ):
        return response.status, await response.json(content_type=None)


# --- REST ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        # JSON escapes, as curl sends them: Python's json turns these into the raw characters.
        (
            rb'{"sender": "x\udfff", "message": "hi"}',
            "'sender' must be printable text: character 1 is U+DFFF",
        ),
        (rb'{"sender": "x\u0000", "message": "hi"}', "U+0000 (a control character)"),
        (rb'{"sender": "\u202eevil", "message": "hi"}', "U+202E"),
        (b'{"sender": "%s", "message": "hi"}' % (b"x" * (MAX_ID_CHARS + 1)), f"at most {MAX_ID_CHARS}"),
        (b'{"sender": 7, "message": "hi"}', "'sender' must be a string"),
        (b'{"sender": "s", "message": "hi", "metadata": %s}' % (b'{"a":' * 9 + b"1" + b"}" * 9), "levels"),
        (b'{"sender": "s", "message": "hi", "metadata": {"blob": "%s"}}' % (b"x" * 20_000), "bytes as JSON"),
        (rb'{"sender": "s", "message": "hi", "metadata": {"id": "\udfff"}}', "lone surrogates"),
        (b'{"sender": "s", "message": "hi", "metadata": {"score": NaN}}', "NaN"),
        (b"[" * 100_000 + b"]" * 100_000, "parsing body as json"),
    ],
    ids=[
        "surrogate-sender",
        "nul-sender",
        "rtl-override-sender",
        "long-sender",
        "number-sender",
        "deep-metadata",
        "large-metadata",
        "surrogate-in-metadata",
        "nan-in-metadata",
        "deep-json",
    ],
)
async def test_a_rest_request_the_store_could_not_take_is_a_400_saying_why(
    served: Served, body: bytes, reason: str
) -> None:
    status, answer = await post_raw(served, body)

    assert status == 400
    assert reason in answer["message"]
    assert served.received == []


async def test_rest_text_reaches_the_bot_encodable_and_the_channel_is_what_the_server_saw(
    served: Served,
) -> None:
    body = (
        rb'{"sender": "s-1", "message": "hi \udfff\u0000", "input_channel": "twilio", "metadata": {"a": 1}}'
    )

    status, answer = await post_raw(served, body)

    assert status == 200
    assert answer == [{"recipient_id": "s-1", "text": "echo: hi \ufffd\ufffd"}]
    [message] = served.received
    assert (message.input_channel, message.metadata["a"]) == ("rest", 1)  # not the claimed "twilio"
    assert message.sender_id == "rest:s-1"  # the REST channel's own conversation; the reply keeps "s-1"


async def http_exchange(served: Served, head: bytes, body_part: bytes) -> bytes:
    """Sends a request head and part of its body; returns what the server answers (first 4 KB)."""
    port = int(served.base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head + body_part)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), timeout=REPLY_TIMEOUT)
    finally:
        writer.close()


async def test_a_60_mb_body_is_refused_with_413_before_it_is_read(served: Served) -> None:
    assert served.app.config.REQUEST_MAX_SIZE == MAX_BODY_BYTES  # Sanic's default: 100 MB
    head = (
        f"POST {REST} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {60 * 1000 * 1000}\r\n\r\n"
    ).encode()

    answer = await http_exchange(served, head, b'{"sender": "s", "message": "' + b"x" * 1000)

    assert answer.startswith(b"HTTP/1.1 413 ")  # with 1 KB of 60 MB sent: nothing waited for
    assert served.received == []


async def test_the_longest_message_is_read_and_one_more_character_is_a_400(served: Served) -> None:
    message = "é" * MAX_TEXT_CHARS  # json.dumps writes each as a 6-byte escape: well within the cap
    too_long = await post_raw(served, json.dumps({"sender": "s", "message": message + "é"}).encode())
    status, answer = await post_raw(served, json.dumps({"sender": "s", "message": message}).encode())

    assert status == 200
    assert answer[0]["text"] == "echo: " + message
    assert too_long[0] == 400 and f"at most {MAX_TEXT_CHARS} characters" in too_long[1]["message"]


# --- socket.io -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Chat:
    client: socketio.AsyncClient
    events: "asyncio.Queue[tuple[str, Any]]"

    async def next(self) -> tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout=REPLY_TIMEOUT)


@pytest.fixture
async def chat(served: Served) -> AsyncIterator[Chat]:
    client = socketio.AsyncClient()
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    for name in ("session_confirm", "bot_uttered", INPUT_ERROR_EVENT):
        client.on(name, lambda data, name=name: events.put_nowait((name, data)))
    await client.connect(served.base_url, socketio_path="/socket.io", transports=["websocket"])
    yield Chat(client, events)
    await client.disconnect()


@pytest.mark.parametrize(
    ("session_id", "reason"),
    [
        ("x\udfff", "U+DFFF (a lone surrogate"),
        ("x\x00", "U+0000"),
        ("", "must not be empty"),
        ("x" * (MAX_ID_CHARS + 1), f"at most {MAX_ID_CHARS}"),
        ({"id": 1}, "must be a string"),
    ],
    ids=["surrogate", "nul", "empty", "long", "object"],
)
async def test_a_session_id_the_store_could_not_take_is_refused_without_a_session(
    served: Served, chat: Chat, session_id: object, reason: str
) -> None:
    await chat.client.emit("session_request", {"session_id": session_id})
    event, data = await chat.next()

    assert event == INPUT_ERROR_EVENT
    assert data["error"] == "bad_request" and reason in data["detail"]
    await chat.client.emit("user_uttered", {"message": "hi", "session_id": session_id})
    assert (await chat.next())[0] == INPUT_ERROR_EVENT
    assert served.received == []


async def test_a_session_is_confirmed_and_its_messages_reach_the_bot_encodable(
    served: Served, chat: Chat
) -> None:
    await chat.client.emit("session_request", {})
    event, signed = await chat.next()
    assert event == "session_confirm"

    await chat.client.emit(
        "user_uttered", {"message": "hi \udfff", "session_id": signed, "metadata": '{"a": 1}'}
    )

    assert await chat.next() == ("bot_uttered", {"text": "echo: hi \ufffd"})
    [message] = served.received
    conversation = f"web:{verified_session(signed, SESSION_KEY)}"
    assert (message.sender_id, message.input_channel, message.metadata["a"]) == (conversation, "socketio", 1)


async def test_a_session_request_without_an_id_gets_a_signed_one_from_the_server(chat: Chat) -> None:
    await chat.client.emit("session_request", None)
    event, session_id = await chat.next()

    assert event == "session_confirm" and verified_session(session_id, SESSION_KEY) is not None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ("just a string", "must be an object"),
        ({"message": {"text": "hi"}}, "'message' must be a string"),
        ({"message": "hi", "metadata": "{not json"}, "not JSON"),
        ({"message": "hi", "metadata": "[" * 100_000 + "]" * 100_000}, "not JSON"),
        ({"message": "hi", "metadata": [1]}, "must be a JSON object"),
        ({"message": "hi", "metadata": {"a": [[[[[[[[1]]]]]]]]}}, "levels"),
        ({"message": "hi", "customData": {"a": [[[[[[[[1]]]]]]]]}}, "levels"),
        ({"message": "hi", "session_id": "web-2"}, "not this connection's session"),
    ],
    ids=[
        "not-an-object",
        "message-object",
        "metadata-not-json",
        "metadata-json-too-deep",
        "metadata-list",
        "metadata-deep",
        "custom-data-deep",
        "another-session",
    ],
)
async def test_a_malformed_message_is_refused_saying_why(
    served: Served, chat: Chat, data: object, reason: str
) -> None:
    assert MAX_METADATA_DEPTH < 9
    await chat.client.emit("session_request", {"session_id": "web-2"})  # not ours: a new one
    assert (await chat.next())[0] == "session_confirm"

    answer = await chat.client.call("user_uttered", data, timeout=REPLY_TIMEOUT)  # the ack carries it too
    event, detail = await chat.next()

    assert event == INPUT_ERROR_EVENT and reason in detail["detail"]
    assert answer == detail
    assert served.received == []
