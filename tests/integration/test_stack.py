"""The three processes from the README's run path, talked to over HTTP and socket.io."""

import asyncio
import uuid
from typing import Any

import aiohttp
import pytest
import socketio

from tests.support.demo_customers import signed_in, token_for
from tests.support.rest_chat import rest, texts
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration


async def test_all_three_processes_answer_health_checks(stack: RunningStack) -> None:
    async with aiohttp.ClientSession() as session:
        for url in (f"{stack.actions_url}/health", f"{stack.handoff_url}/healthz", f"{stack.rasa_url}/"):
            async with session.get(url) as response:
                assert response.status == 200, url


async def test_rest_order_lookup_that_succeeds(stack: RunningStack) -> None:
    status, replies = await rest(stack, "where is my order 10002?", headers=signed_in(stack))

    assert status == 200
    assert "10002" in texts(replies)
    assert "on its way" in texts(replies)


async def test_rest_order_lookup_that_fails_then_is_corrected(stack: RunningStack) -> None:
    sender, ada = uuid.uuid4().hex, signed_in(stack)
    _, first = await rest(stack, "where's my order", sender, ada)
    _, wrong = await rest(stack, "it's 99999", sender, ada)
    _, right = await rest(stack, "sorry, 10001", sender, ada)

    assert "order number" in texts(first)
    assert "couldn't find an order 99999" in texts(wrong)
    assert "10001" in texts(right) and "delivered" in texts(right)


async def test_socketio_order_lookups(stack: RunningStack) -> None:
    client = socketio.AsyncClient()
    replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    client.on("bot_uttered", replies.put)
    confirmed: asyncio.Queue[str] = asyncio.Queue()
    client.on("session_confirm", confirmed.put)
    await client.connect(
        stack.rasa_url, socketio_path="/socket.io", transports=["websocket"], auth={"token": token_for(stack)}
    )
    try:
        await client.emit("session_request", {})
        session_id = await asyncio.wait_for(confirmed.get(), timeout=30)  # the server's, signed

        async def ask(text: str) -> str:
            await client.emit("user_uttered", {"message": text, "session_id": session_id})
            return str((await asyncio.wait_for(replies.get(), timeout=60))["text"])

        assert "on its way" in await ask("status of order 10002 please")
        assert "couldn't find an order 12345" in await ask("and what about order 12345?")
    finally:
        await client.disconnect()


@pytest.mark.parametrize(
    "message",
    [
        "",
        "   ",
        "where is my order " * 1111,  # 19 998 characters: just under the cap (input_checks.MAX_TEXT_CHARS)
        "\x00\x01\ufffd\x7f binary \udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        "😡😡😡",
        "أين طلبي؟ لم يصل بعد",
        "מתי ההזמנה שלי תגיע",
    ],
    ids=["empty", "blank", "longest", "binary", "emoji", "arabic", "hebrew"],
)
async def test_odd_messages_get_a_sensible_reply(stack: RunningStack, message: str) -> None:
    status, replies = await rest(stack, message)

    assert status == 200
    assert replies and texts(replies).strip()
    assert "Traceback" not in texts(replies)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "parsing body as json"),
        (b"[]", "JSON object"),
        (b'{"message": "hi"}', "'sender'"),
        (b'{"sender": "s", "message": {"text": "hi"}}', "'message'"),
        (b'{"sender": "s", "message": "hi", "metadata": 3}', "'metadata'"),
        (b"\xff\xfe binary", "parsing body as json"),
    ],
    ids=["not-json", "list", "no-sender", "message-object", "metadata-number", "binary-body"],
)
async def test_malformed_rest_request_is_a_400_with_a_reason(
    stack: RunningStack, body: bytes, reason: str
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{stack.rasa_url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
        ) as response,
    ):
        assert response.status == 400
        assert reason in (await response.json())["message"]
