"""action_track_empathy is posted once per customer message (bot/components/empathy_once.py).

Rasa's own slot extraction runs it for each message and again when a form activates in the same
turn.  A loopback HTTP server plays the action server with the real ``ActionTrackEmpathy`` behind
rasa-sdk's executor, so the repeat that is skipped is compared with what the action answers.
"""

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.processor import MessageProcessor
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, Restarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk.executor import ActionExecutor

from actions.empathy_tracking import ActionTrackEmpathy
from bot.components import empathy_once
from bot.components.empathy_once import SCORED, TRACK_EMPATHY, already_scored, message_key
from bot.constants import SLOT_EMPATHY_STATE, SLOT_TURN_RECORD
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = Domain.load(str(ROOT / "domain.yml"))
ORDER_REQUEST = "where is my order 10002?"


# --- which call is a repeat, from the tracker alone -------------------------------------------------


def user(text: str, message_id: str | None = "m-1", timestamp: float | None = None) -> UserUttered:
    return UserUttered(
        text, {"name": "order_status", "confidence": 0.9}, message_id=message_id, timestamp=timestamp
    )


def state(scored: str | None) -> SlotSet:
    return SlotSet(SLOT_EMPATHY_STATE, {"turn": 1, SCORED: scored})


def tracker_of(*events: Event) -> DialogueStateTracker:
    listening = ActionExecuted("action_listen")
    return DialogueStateTracker.from_events("customer-1", [listening, *events], DOMAIN.slots)


def test_the_first_call_of_a_turn_is_never_a_repeat() -> None:
    assert not already_scored(tracker_of(user("hi")))
    # The state of the previous message is there, but it is not this message's.
    previous = [user("hi", "m-0"), state("m-0"), BotUttered("hello"), ActionExecuted("action_listen")]
    assert not already_scored(tracker_of(*previous, user("where is it", "m-1")))


def test_a_message_whose_state_was_stored_in_this_turn_is_a_repeat() -> None:
    assert already_scored(tracker_of(user("hi", "m-1"), state("m-1")))
    # Without a message id the action keys the message by its timestamp.
    message = user("hi", None, timestamp=1700000000.25)
    assert message_key(message) == "1700000000.25"
    assert already_scored(tracker_of(message, state("1700000000.25")))


@pytest.mark.parametrize(
    "events",
    [
        # A state set this turn, but for another message (the action would score this one).
        [user("hi", "m-1"), state("m-0")],
        # The slot names this message, but no call of this turn stored it (a client reusing an id).
        [state("m-1"), BotUttered("ok"), ActionExecuted("action_listen"), user("hi", "m-1")],
        # Stored, then the conversation was restarted: the slot is empty again.
        [user("hi", "m-1"), state("m-1"), Restarted()],
        # A state the action could not read.
        [user("hi", "m-1"), SlotSet(SLOT_EMPATHY_STATE, "m-1")],
        # No message at all.
        [state("m-1")],
    ],
)
def test_anything_else_is_posted(events: list[Event]) -> None:
    assert not already_scored(tracker_of(*events))


def test_the_names_are_the_actions_own() -> None:
    assert ActionTrackEmpathy().name() == TRACK_EMPATHY


# --- against the real action, through Rasa's slot extraction ----------------------------------------


@dataclass
class EmpathyServer:
    """The action server: rasa-sdk's executor running the real ActionTrackEmpathy."""

    port: int
    executor: ActionExecutor = field(default_factory=ActionExecutor)
    calls: list[str] = field(default_factory=list)
    bytes_posted: int = 0
    fail_next: int = 0  # answer this many calls with a 500, as a failing action server would
    runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> EndpointConfig:
        return EndpointConfig(f"http://127.0.0.1:{self.port}/webhook")

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        call = json.loads(body)
        self.calls.append(str(call["next_action"]))
        self.bytes_posted += len(body)
        if self.fail_next:
            self.fail_next -= 1
            return web.json_response({"error": "boom"}, status=500)
        answer = await self.executor.run(call)
        return web.json_response(answer or {"events": [], "responses": []})

    async def start(self) -> None:
        self.executor.register_action(ActionTrackEmpathy())
        app = web.Application()
        app.router.add_post("/webhook", self.webhook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
def isolated_actions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The action's process-wide resources on throwaway databases (as tests/actions/conftest.py)."""
    from actions import bootstrap

    monkeypatch.setenv("ATTUNE_STORE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("ATTUNE_OUTBOX_DATABASE_URL", f"sqlite:///{tmp_path / 'outbox.db'}")
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("ATTUNE_ACTIONS_METRICS_PORT", raising=False)
    bootstrap.reset()
    yield
    bootstrap.reset()


@pytest.fixture
async def server(isolated_actions: None) -> AsyncIterator[EmpathyServer]:
    found = EmpathyServer(free_port())
    await found.start()
    yield found
    await found.stop()


def processor(endpoint: EndpointConfig) -> MessageProcessor:
    """The parts of Rasa's processor that run slot extraction (no model is loaded)."""
    found = MessageProcessor.__new__(MessageProcessor)
    found.domain = DOMAIN
    found.action_endpoint = endpoint
    found.nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    return found


async def order_turn(rasa: MessageProcessor, tracker: DialogueStateTracker, message: UserUttered) -> None:
    """A message that starts the order form: extraction before prediction, then at activation."""
    tracker.update(message, DOMAIN)
    await rasa.run_action_extract_slots(CollectingOutputChannel(), tracker)
    await rasa.run_action_extract_slots(CollectingOutputChannel(), tracker)  # FormAction.activate's
    tracker.update(BotUttered("Order 10002 is on its way."))
    tracker.update(ActionExecuted("action_listen"))


def stored(tracker: DialogueStateTracker) -> list[dict[str, Any]]:
    """The tracker's events without their timestamps, which differ from run to run."""
    return [{k: v for k, v in e.as_dict().items() if k != "timestamp"} for e in tracker.events]


def new_tracker() -> DialogueStateTracker:
    return DialogueStateTracker.from_events("customer-1", [ActionExecuted("action_listen")], DOMAIN.slots)


async def test_the_repeat_is_not_posted_and_the_tracker_ends_as_it_would_have(server: EmpathyServer) -> None:
    rasa = processor(server.endpoint)
    shipped = new_tracker()
    await order_turn(rasa, shipped, user(ORDER_REQUEST, "m-1", timestamp=100.0))
    assert server.calls == [TRACK_EMPATHY, TRACK_EMPATHY]  # Rasa as shipped: the repeat is posted
    posted_by_shipped, server.bytes_posted = server.bytes_posted, 0
    server.calls.clear()

    empathy_once.install()
    skipped = new_tracker()
    await order_turn(rasa, skipped, user(ORDER_REQUEST, "m-1", timestamp=100.0))

    assert server.calls == [TRACK_EMPATHY]
    assert server.bytes_posted < 0.6 * posted_by_shipped  # about half: one tracker and domain fewer
    # What the action answered to the repeat (nothing) is what the skip answered.
    assert stored(skipped) == stored(shipped)
    assert skipped.get_slot(SLOT_EMPATHY_STATE)[SCORED] == "m-1"


async def test_every_message_is_posted_once_and_scored(server: EmpathyServer) -> None:
    empathy_once.install()
    rasa = processor(server.endpoint)
    tracker = new_tracker()

    # Without message ids too: the action then keys each message by its timestamp.
    for number, message_id in enumerate(["m-1", None, "m-3"], start=1):
        message = user(f"{ORDER_REQUEST} ({number})", message_id, timestamp=100.0 + number)
        await order_turn(rasa, tracker, message)

    assert server.calls == [TRACK_EMPATHY] * 3
    records = [e.value for e in tracker.events if isinstance(e, SlotSet) and e.key == SLOT_TURN_RECORD]
    assert [record["turn"] for record in records] == [1, 2, 3]


async def test_when_the_first_call_fails_the_repeat_is_posted_and_scores_the_message(
    server: EmpathyServer,
) -> None:
    empathy_once.install()
    rasa = processor(server.endpoint)
    tracker = new_tracker()
    server.fail_next = 1

    await order_turn(rasa, tracker, user(ORDER_REQUEST, "m-1", timestamp=100.0))

    assert server.calls == [TRACK_EMPATHY, TRACK_EMPATHY]
    assert tracker.get_slot(SLOT_EMPATHY_STATE)[SCORED] == "m-1"
