"""REST cannot push: what was sent to a rest: conversation out of turn comes first in the next response.

``out_of_turn`` on trackers built inline, then the channel served by Sanic with a real in-memory
tracker store on ``app.ctx.agent``, where Rasa keeps its agent: the recording bot stores its turn
as Rasa does (user event, replies, ``action_listen``), and an agent's message is stored between two
turns as ``/execute`` stores it (handoff/core/rasa_client.py ends it with ``action_listen``).
"""

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SessionStarted, UserUttered
from sanic import Sanic

from bot.components.checked_rest_channel import CheckedRestInput, out_of_turn
from tests.support.ports import free_port
from tests.support.sanic_server import serve_channels

REST = "/webhooks/rest/webhook"


def listen() -> ActionExecuted:
    return ActionExecuted("action_listen")


def test_bot_events_after_the_turn_ended_and_before_the_message_are_out_of_turn() -> None:
    events: list[Event] = [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        listen(),
        UserUttered("hello", message_id="m1"),
        BotUttered("Hi! How can I help?"),
        listen(),
        BotUttered("Sam joined the conversation."),
        listen(),
        BotUttered("Still there?", {"buttons": [{"title": "yes", "payload": "/affirm"}]}),
        listen(),
        UserUttered("yes", message_id="m2"),
        BotUttered("Great."),
        listen(),
    ]

    missed = out_of_turn(events, "m2")

    assert [event.text for event in missed] == ["Sam joined the conversation.", "Still there?"]
    assert out_of_turn(events, "m1") == []  # nothing came between the session start and "hello"
    assert out_of_turn(events, "not stored") == []  # a message that failed: they come next time


async def store_turn(store: InMemoryTrackerStore, message: UserMessage, *replies: Event) -> None:
    tracker = await store.get_or_create_tracker(message.sender_id)
    tracker.update(UserUttered(message.text, message_id=message.message_id))
    for event in [*replies, listen()]:
        tracker.update(event)
    await store.save(tracker)


@pytest.fixture
async def served(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[str, InMemoryTrackerStore]]:
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(Sanic, "test_mode", True)
    store = InMemoryTrackerStore(Domain.empty())

    async def bot(message: UserMessage) -> None:
        reply = f"echo: {message.text}"
        await store_turn(store, message, BotUttered(reply))
        await message.output_channel.send_text_message(message.sender_id, reply)

    def agent_on(app: Sanic, _: str) -> None:
        app.ctx.agent = SimpleNamespace(tracker_store=store)

    async with serve_channels([CheckedRestInput()], bot, name="missed_test", prepare=agent_on) as base_url:
        yield base_url, store


async def say(base_url: str, sender: str, text: str) -> list[dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(base_url + REST, json={"sender": sender, "message": text}) as response,
    ):
        assert response.status == 200
        return list(await response.json())


async def test_an_agents_message_comes_first_in_the_next_response_and_only_once(
    served: tuple[str, InMemoryTrackerStore],
) -> None:
    base_url, store = served
    await say(base_url, "dana", "hello")
    tracker = await store.retrieve("rest:dana")
    assert tracker is not None
    for event in (BotUttered("Still there?"), listen()):  # what /execute stores
        tracker.update(event)
    await store.save(tracker)

    following = await say(base_url, "dana", "yes")
    after = await say(base_url, "dana", "thanks")

    assert following == [
        {"recipient_id": "dana", "text": "Still there?"},
        {"recipient_id": "dana", "text": "echo: yes"},
    ]
    assert after == [{"recipient_id": "dana", "text": "echo: thanks"}]
