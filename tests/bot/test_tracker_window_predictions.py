"""Issue 18: the rolling window predicts what the whole session predicts, on the trained model.

One conversation of 30 customer turns (order lookups, the order form asking for a number, thanks,
an angry message, a request for a person) goes through a real Rasa ``Agent`` loaded from the trained
model, with the real actions behind rasa-sdk's executor on loopback, three times: with the shipped
tracker store windowed at 6 turns, with the window off, and with the window off and the events
stored as Rasa would store them (``slim_for_storage`` off).  Every turn must run the same actions,
say the same words, and get the same turn record (scores included) from the empathy action.
"""

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.core.events import ActionExecuted, BotUttered, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk.executor import ActionExecutor

from bot.components import tracker_store
from bot.components.rasa_patches import install_rasa_patches
from bot.components.tracker_store import GuardedSQLTrackerStore, window_of
from bot.constants import SLOT_TURN_RECORD
from bot.empathy import signals
from tests.support.ports import free_port
from tests.support.stack import trained_model

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:Slot auto-fill has been removed:UserWarning"),
]

WINDOW = 6
# 30 turns: lookups with and without the number (the form asks for it), thanks, small talk, an
# angry turn and a request for a person, so the window is cut often and outside a form.
SCRIPT = [
    "hi",
    "where is my order 10002?",
    "ok thanks",
    "where is my order?",
    "10003",
    "thank you",
    "is order 10004 on its way?",
    "great, thanks",
    "where is order 10005",
    "ok",
    "where is my order 10002?",
    "thanks",
    "where is my order 55555?",
    "it's 55555, I checked twice!!",
    "this is useless, where is my parcel",
    "ok thanks",
    "has order 10011 shipped yet?",
    "thank you",
    "where is my order?",
    "10002",
    "ok thanks",
    "hi",
    "where is order 10003",
    "great",
    "where is my order 10004?",
    "thanks",
    "where is my order 10002?",
    "ok thanks",
    "can I talk to a person please",
    "thanks",
]
# Who the channels' consent gate says is writing (bot/components/consent_gate.py): a verified
# demo customer who allows emotion analysis.
CUSTOMER = {
    "attune": {
        "customer": "cust-window-test",
        "emotion_processing": "on",
        "identities": [{"kind": "id", "value": "C-1002"}],
        "verified": {"id": "C-1002"},
    }
}


@pytest.fixture
def actions_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The actions' process-wide resources on throwaway databases, the handoff service unreachable."""
    from actions import bootstrap

    monkeypatch.setenv("ATTUNE_STORE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("ATTUNE_OUTBOX_DATABASE_URL", f"sqlite:///{tmp_path / 'outbox.db'}")
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("ATTUNE_ACTIONS_METRICS_PORT", raising=False)
    monkeypatch.delenv(tracker_store.WINDOW_TURNS_VARIABLE, raising=False)
    bootstrap.reset()
    yield
    bootstrap.reset()


@pytest.fixture
async def action_endpoint(actions_env: None) -> AsyncIterator[EndpointConfig]:
    """The real actions (every module under actions/) behind rasa-sdk's executor, on loopback."""
    executor = ActionExecutor()
    executor.register_package("actions")

    async def webhook(request: web.Request) -> web.Response:
        answer = await executor.run(await request.json())
        return web.json_response(answer or {"events": [], "responses": []})

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield EndpointConfig(f"http://127.0.0.1:{port}/webhook")
    await runner.cleanup()


class CountingStore(GuardedSQLTrackerStore):
    """The shipped store, counting the retrieves that returned a window."""

    windows = 0

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        tracker = await super().retrieve(sender_id)
        if tracker is not None and window_of(tracker) is not None:
            self.windows += 1
        return tracker


async def converse(agent: Agent, store: CountingStore) -> list[dict[str, Any]]:
    """The script through ``agent`` on ``store``; per turn: the actions run, the replies, the record."""
    agent.tracker_store = Agent._create_tracker_store(store, agent.domain)
    agent.processor.tracker_store = agent.tracker_store
    sender = f"window-{uuid.uuid4().hex}"
    replies = []
    for text in SCRIPT:
        channel = CollectingOutputChannel()
        await agent.handle_message(UserMessage(text, channel, sender, metadata=CUSTOMER))
        replies.append([message.get("text") for message in channel.messages])
    events = json_events(store, sender)
    turns: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, UserUttered):
            turns.append({"text": event.text, "intent": event.intent_name, "actions": [], "said": []})
        elif turns and isinstance(event, ActionExecuted):
            turns[-1]["actions"].append((event.action_name, event.policy))
        elif turns and isinstance(event, BotUttered):
            turns[-1]["said"].append(event.text)
        elif turns and isinstance(event, SlotSet) and event.key == SLOT_TURN_RECORD:
            turns[-1]["record"] = event.value
    assert [turn["said"] for turn in turns] == replies  # what the customer got is what was stored
    return turns


def same_but_scores(one: dict[str, Any], other: dict[str, Any], within: float = 0.03) -> bool:
    """The same actions, words and record, the record's scores within ``within``.

    Stored as Rasa stores it, the previous message keeps its int8 vector in the parse data and the
    rephrase signal reads the exact cosine; slimmed, it reads the 512-bit sketch's estimate (about
    0.03 off), which moves a score by a few thousandths and changes nothing else.
    """
    scores = ("frustration", "distress")
    mine, theirs = one.get("record") or {}, other.get("record") or {}

    def but(found: dict[str, Any], *keys: str) -> dict[str, Any]:
        return {k: v for k, v in found.items() if k not in keys}

    return (
        but(one, "record") == but(other, "record")
        and but(mine, *scores) == but(theirs, *scores)
        and all(abs((mine.get(k) or 0.0) - (theirs.get(k) or 0.0)) <= within for k in scores)
    )


def json_events(store: GuardedSQLTrackerStore, sender: str) -> list[Event]:
    """Every stored event of the conversation, oldest first, as Rasa reads them back."""
    event = store.SQLEvent
    with store.session_scope() as session:
        rows = session.execute(sa.select(event.data).where(event.sender_id == sender).order_by(event.id))
        return [Event.from_parameters(json.loads(data)) for data in rows.scalars()]


async def test_a_window_of_six_turns_and_slimmed_events_predict_and_say_what_the_whole_session_does(
    tmp_path: Path, action_endpoint: EndpointConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = trained_model()
    install_rasa_patches()
    # The fast-reply signal reads the wall-clock seconds from the bot's message to the customer's,
    # which differ between runs by milliseconds: without it the three runs' scores must be equal.
    monkeypatch.setattr(signals, "_reply_latency", lambda current, previous: None)
    windowed = CountingStore(None, dialect="sqlite", db=str(tmp_path / "windowed.db"), window_turns=WINDOW)
    whole = CountingStore(None, dialect="sqlite", db=str(tmp_path / "whole.db"), window_turns=0)
    as_rasa = CountingStore(None, dialect="sqlite", db=str(tmp_path / "as-rasa.db"), window_turns=0)
    agent = Agent.load(str(model), tracker_store=windowed, action_endpoint=action_endpoint)

    with_window = await converse(agent, windowed)
    without = await converse(agent, whole)
    monkeypatch.setattr(tracker_store, "slim_for_storage", lambda tracker: None)
    unslimmed = await converse(agent, as_rasa)

    assert len(with_window) == len(without) == len(unslimmed) == len(SCRIPT)
    # The window was cut on many turns; a lookup that asks for the e-mail or postcode keeps the
    # order form open into the next turn, and a cut inside an open form loads the session whole.
    assert windowed.windows >= 8 and whole.windows == as_rasa.windows == 0
    for number, (cut, full, plain) in enumerate(zip(with_window, without, unslimmed, strict=True), start=1):
        said = f"turn {number} ({full['text']!r})"
        assert cut == full, f"{said} differs with the window:\n{cut}\n{full}"
        assert same_but_scores(plain, full), f"{said} differs when stored slimmed:\n{full}\n{plain}"
    # The conversation did what it is meant to test: lookups, the form, a person offered, records.
    actions = [name for turn in without for name, _ in turn["actions"]]
    assert {"order_form", "action_lookup", "action_offer_human", "action_handoff"} <= set(actions)
    assert all(turn["said"] for turn in without)
    assert sum("record" in turn for turn in without) >= 25
