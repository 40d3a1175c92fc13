"""A message in flight when the action server is killed is answered once it is back (issue 12).

Rasa 3.6 gave up on a custom action at its first connection error: the customer got ``[]``, the
lookup was lost, and the next message met a conversation that had gone on without it.  Now the
Rasa server retries the call (bot/components/action_retry.py, up to ATTUNE_ACTION_RETRY_SECONDS)
while the launcher restarts the action server; past that budget the customer is told the message
was not processed (tests/bot/test_action_retry.py covers that path without a stack).
"""

import asyncio
import os
import signal
import time
import uuid
from typing import Any

import aiohttp
import pytest

from bot.components.turn_guard import NOT_PROCESSED_TEXT
from tests.support.demo_customers import signed_in
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration

RESTART_DEADLINE = 90.0


async def ask(stack: RunningStack, sender: str, message: str) -> tuple[int, list[str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{stack.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            headers=signed_in(stack),  # Ada, who owns orders 10001 and 10002
            timeout=aiohttp.ClientTimeout(total=120),
        ) as response,
    ):
        replies: Any = await response.json(content_type=None)
        return response.status, [str(reply.get("text", "")) for reply in replies]


async def answers(url: str) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, timeout=aiohttp.ClientTimeout(2)) as response,
        ):
            return response.status == 200
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return False


async def test_a_message_in_flight_when_the_action_server_is_killed_gets_its_answer(
    stack: RunningStack,
) -> None:
    sender = uuid.uuid4().hex
    assert (await ask(stack, sender, "hello"))[0] == 200
    others = {name: stack.pid_of(name) for name in ("rasa", "handoff")}
    killed = stack.pid_of("actions")

    in_flight = asyncio.create_task(ask(stack, sender, "where is my order 10002?"))
    await asyncio.sleep(0.05)  # the message is being parsed; its actions come next
    os.kill(killed, signal.SIGKILL)
    status, replies = await in_flight

    assert status == 200
    # Answered once the action server was back (within the retry budget), or told honestly.
    assert any("10002" in reply and "on its way" in reply for reply in replies) or replies == [
        NOT_PROCESSED_TEXT
    ], replies
    print(f"\nin-flight message answered with: {replies}")

    deadline = time.monotonic() + RESTART_DEADLINE
    while not (stack.pid_of("actions") != killed and await answers(f"{stack.actions_url}/health")):
        assert time.monotonic() < deadline, "the action server was not restarted"
        await asyncio.sleep(0.2)
    # The conversation goes on where it was, not from an out-of-context greeting.
    status, replies = await ask(stack, sender, "and where is my order 10001?")
    assert status == 200 and any("10001" in reply for reply in replies), replies
    assert {name: stack.pid_of(name) for name in others} == others
