"""Issue 18: the tracker store stores less of Rasa's own bytes and loads a long session as a window.

On a real SQLite file with the shipped domain.  The window must leave what the policies see
(the last states, the slots, the active form, the pause) as the whole session leaves it, store every
event exactly once, and still give the handoff actions the whole conversation.
"""

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    Event,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk import Tracker

from actions.handoff_payload import build_payload
from bot.components import tracker_store
from bot.components.tracker_store import GuardedSQLTrackerStore, window_of
from bot.constants import SLOT_ORDER_ID, SLOT_TURN_RECORD
from tests.actions.test_handoff_payload import NOW

ROOT = Path(__file__).resolve().parents[2]
SENDER = "a-long-conversation"
MODEL = {"model_id": "m-1", "assistant_id": "attune"}


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture(autouse=True)
def no_window_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(tracker_store.WINDOW_TURNS_VARIABLE, raising=False)


def store_on(path: Path, domain: Domain, window_turns: int) -> GuardedSQLTrackerStore:
    return GuardedSQLTrackerStore(domain, dialect="sqlite", db=str(path), window_turns=window_turns)


def record(turn: int) -> dict[str, Any]:
    frustration = round(0.1 + turn / 100, 3)
    return {
        "v": 1,
        "turn": turn,
        "intent": "order_status",
        "confidence": 0.9,
        "outcome": None,
        "tone": "neutral",
        "decision": "handoff" if turn == 60 else "none",
        "emotion_processing": "on",
        "frustration": frustration,
        "distress": 0.01,
        "signals": [],
    }


def turn_events(turn: int, at: float) -> list[Event]:
    """One customer turn as Rasa records it: listen, the message, the actions' slots, the reply."""
    ranking = [{"name": f"intent_{i}", "confidence": 0.1} for i in range(10)]
    parse_data = {"intent": {"name": "order_status", "confidence": 0.9}, "intent_ranking": ranking}
    events: list[Event] = [
        ActionExecuted("action_listen", timestamp=at, metadata=dict(MODEL)),
        UserUttered(
            f"customer message {turn}",
            parse_data["intent"],
            parse_data=parse_data,
            timestamp=at + 0.1,
            input_channel="rest",
            metadata={"channel": "rest"},
        ),
        SlotSet(SLOT_TURN_RECORD, record(turn), timestamp=at + 0.2, metadata=dict(MODEL)),
    ]
    if turn % 7 == 0:
        events.append(SlotSet(SLOT_ORDER_ID, f"100{turn:02d}", timestamp=at + 0.3))
    if turn == 3:  # a form opened and closed long before the window
        events += [ActiveLoop("order_form", timestamp=at + 0.4), ActiveLoop(None, timestamp=at + 0.5)]
    events.append(BotUttered(f"bot reply {turn}", timestamp=at + 0.6, metadata=dict(MODEL)))
    return events


async def converse(
    store: GuardedSQLTrackerStore, turns: int, extra: dict[int, list[Event]] | None = None
) -> list[Event]:
    """``turns`` turns through ``store`` as Rasa runs them (retrieve, update, save); every event, in order."""
    everything: list[Event] = [
        ActionExecuted("action_session_start", timestamp=1.0),
        SessionStarted(timestamp=1.0),
    ]
    tracker = DialogueStateTracker(SENDER, store.domain.slots)
    for event in everything:
        tracker.update(event)
    await store.save(tracker)
    for turn in range(1, turns + 1):
        tracker = await store.retrieve(SENDER)
        assert tracker is not None
        new = turn_events(turn, 100.0 * turn) + (extra or {}).get(turn, [])
        for event in new:
            tracker.update(event)
        everything += new
        await store.save(tracker)
    return everything


def stored_rows(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as connection:
        return [json.loads(d) for (d,) in connection.execute("SELECT data FROM events ORDER BY id")]


def whole(events: list[Event], domain: Domain) -> DialogueStateTracker:
    """The session as Rasa without a window holds it (what it was in memory, unslimmed)."""
    return DialogueStateTracker.from_events(SENDER, [e for e in events], domain.slots)


async def test_a_long_session_is_loaded_as_a_window_that_leaves_every_policy_input_as_it_was(
    tmp_path: Path, domain: Domain
) -> None:
    store = store_on(tmp_path / "tracker.db", domain, window_turns=6)
    events = await converse(store, 40)

    windowed = await store.retrieve(SENDER)
    full = whole(events, domain)

    assert windowed is not None and window_of(windowed) is not None
    assert sum(isinstance(e, UserUttered) for e in windowed.events) == 6
    assert len(windowed.events) < len(full.events) / 4
    assert windowed.current_slot_values() == full.current_slot_values()
    assert windowed.get_slot(SLOT_ORDER_ID) == "10035"  # set at turn 35, before the window
    assert windowed.active_loop == full.active_loop
    assert windowed.latest_message is not None and windowed.latest_message.text == "customer message 40"
    # What TED (5), memoization (4) and the rules read: the tail of the states.  Here a turn is one
    # state (one action); a real turn has three or more, so six turns are twenty states or so.
    assert windowed.past_states(domain)[-6:] == full.past_states(domain)[-6:]
    assert len(windowed.past_states(domain)) == 7  # the summary's, then the window's


async def test_every_event_is_stored_exactly_once_and_without_rasas_unread_bytes(
    tmp_path: Path, domain: Domain
) -> None:
    store = store_on(tmp_path / "tracker.db", domain, window_turns=6)
    events = await converse(store, 20)

    rows = stored_rows(tmp_path / "tracker.db")

    assert [r["event"] for r in rows] == [e.type_name for e in events]
    users = [r for r in rows if r["event"] == "user"]
    assert [u["text"] for u in users] == [f"customer message {n}" for n in range(1, 21)]
    assert all(len(u["parse_data"]["intent_ranking"]) == tracker_store.STORED_RANKING for u in users)
    assert all("metadata" not in u["parse_data"] for u in users)
    assert all(u["metadata"]["channel"] == "rest" for u in users)  # the channel's metadata, once
    others = [r for r in rows if r["event"] != "user"]
    assert not any(
        "model_id" in r.get("metadata", {}) or "assistant_id" in r.get("metadata", {}) for r in others
    )


async def test_a_reloaded_user_event_reads_as_it_did_in_its_turn(tmp_path: Path, domain: Domain) -> None:
    store = store_on(tmp_path / "tracker.db", domain, window_turns=0)
    events = await converse(store, 2)

    reloaded = await store.retrieve(SENDER)

    assert reloaded is not None
    before = [e for e in events if isinstance(e, UserUttered)][-1]
    after = reloaded.latest_message
    assert after is not None
    assert after.parse_data["metadata"] == {"channel": "rest"}  # rebuilt by Rasa from the event's own
    assert after.intent == before.intent and after.text == before.text
    assert after.parse_data["intent_ranking"] == before.parse_data["intent_ranking"][:3]


async def test_a_short_session_and_window_zero_load_the_whole_session_as_rasa_does(
    tmp_path: Path, domain: Domain
) -> None:
    short = store_on(tmp_path / "short.db", domain, window_turns=6)
    off = store_on(tmp_path / "off.db", domain, window_turns=0)
    await converse(short, 6)
    await converse(off, 30)

    for store, turns in ((short, 6), (off, 30)):
        tracker = await store.retrieve(SENDER)
        assert tracker is not None and window_of(tracker) is None
        assert sum(isinstance(e, UserUttered) for e in tracker.events) == turns


async def test_a_form_active_at_the_cut_or_a_rewind_before_it_loads_the_whole_session(
    tmp_path: Path, domain: Domain
) -> None:
    form = store_on(tmp_path / "form.db", domain, window_turns=6)
    rewound = store_on(tmp_path / "rewound.db", domain, window_turns=6)
    await converse(form, 20, {10: [ActiveLoop("order_form", timestamp=1000.7)]})  # still open
    await converse(rewound, 20, {5: [UserUtteranceReverted(timestamp=500.7)]})

    for store in (form, rewound):
        tracker = await store.retrieve(SENDER)
        assert tracker is not None and window_of(tracker) is None


async def test_a_pause_before_the_window_is_carried_into_it(tmp_path: Path, domain: Domain) -> None:
    store = store_on(tmp_path / "tracker.db", domain, window_turns=6)
    await converse(store, 20, {4: [ConversationPaused(timestamp=400.7)]})  # a person took over

    tracker = await store.retrieve(SENDER)

    assert tracker is not None and window_of(tracker) is not None
    assert tracker.is_paused()


async def test_a_handoff_at_turn_60_is_posted_the_whole_conversation(tmp_path: Path, domain: Domain) -> None:
    store = store_on(tmp_path / "tracker.db", domain, window_turns=6)
    await converse(store, 59)
    tracker = await store.retrieve(SENDER)
    assert tracker is not None and window_of(tracker) is not None
    for event in turn_events(60, 6000.0):  # this turn's events are not stored yet
        tracker.update(event)
    tracker_store.install()
    endpoint = EndpointConfig("http://127.0.0.1:9/webhook")

    handoff = RemoteAction("action_handoff", endpoint)._action_call_format(tracker, domain)
    other = RemoteAction("action_track_empathy", endpoint)._action_call_format(tracker, domain)

    payload = build_payload(Tracker.from_dict(handoff["tracker"]), now=NOW)
    lines = [line["text"] for line in payload["transcript"]]
    assert lines[0] == "customer message 1" and lines[-1] == "bot reply 60"
    assert len(lines) == 120
    assert [p["turn"] for p in payload["trajectory"]] == list(range(1, 61))
    assert payload["trigger"]["turn"] == 60
    # Any other action is posted the window: six stored turns and this one.
    assert len([e for e in other["tracker"]["events"] if e["event"] == "user"]) == 7


@pytest.mark.parametrize("value", ["3", "-1", "ten", "1e3", 5])
def test_a_window_too_small_or_not_a_number_stops_the_server_at_start(
    tmp_path: Path, domain: Domain, value: object
) -> None:
    with pytest.raises(RasaException, match="window_turns"):
        GuardedSQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "t.db"), window_turns=value)


def test_the_environment_overrides_the_window_of_endpoints_yml(
    tmp_path: Path, domain: Domain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(tracker_store.WINDOW_TURNS_VARIABLE, "0")

    assert store_on(tmp_path / "t.db", domain, window_turns=10).window_turns == 0


class _ListBroker:
    """An event broker that keeps what it is given (Rasa's ``EventBroker.publish`` signature)."""

    def __init__(self) -> None:
        self.published: list[dict[str, Any]] = []

    def publish(self, event: dict[str, Any]) -> None:
        self.published.append(event)


@pytest.mark.parametrize("window_turns", [10, 0])
async def test_the_broker_gets_each_stored_event_once_without_a_second_load_per_save(
    tmp_path: Path, domain: Domain, window_turns: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rasa's ``stream_events`` loaded the whole conversation again on every save to find the new
    events (bench/broker_save.py: +4-11 ms a message with a broker on); short sessions and window 0
    now count the stored events instead.  What the broker gets must not change: each event once, in
    the stored order, for short sessions and for windowed ones.
    """
    db = tmp_path / "tracker.db"
    store = store_on(db, domain, window_turns)
    broker = _ListBroker()
    store.event_broker = broker  # type: ignore[assignment]
    loads = 0
    retrieve = store.retrieve

    async def counting_retrieve(sender_id: str) -> DialogueStateTracker | None:
        nonlocal loads
        loads += 1
        return await retrieve(sender_id)

    monkeypatch.setattr(store, "retrieve", counting_retrieve)

    await converse(store, 25)

    assert loads == 25  # converse's own retrieve per turn, none more by save
    rows = stored_rows(db)
    assert len(broker.published) == len(rows)
    assert [{k: v for k, v in e.items() if k != "sender_id"} for e in broker.published] == rows
    assert {e["sender_id"] for e in broker.published} == {SENDER}
