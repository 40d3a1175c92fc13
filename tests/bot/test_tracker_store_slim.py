"""Issue 18: what a stored user or bot event keeps once its turn is over (``slim_for_storage``).

On a real SQLite file: the event is stored small, Rasa reads it back with everything it rebuilds,
and what Attune reads from older messages (the handoff payload's emotion readings, the language,
the cues the action server scores with) reads the same.
"""

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from actions.handoff_payload import language_of
from actions.languages import unread_language
from bot.components.tracker_store import GuardedSQLTrackerStore, slim_for_storage
from bot.empathy.cues import Cues

ROOT = Path(__file__).resolve().parents[2]
SENDER = "a-customer"
PROBABILITIES = {
    "anger": 0.0175,
    "frustration": 0.0449,
    "sadness": 0.0097,
    "fear": 0.0199,
    "confusion": 0.1044,
    "surprise": 0.0219,
    "disgust": 0.0103,
    "joy": 0.0246,
    "neutral": 0.7468,
}
CUES = {name: 0.0 for name in Cues().to_dict()} | {"exclamations": 0.5, "repetition": 1.0}


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def user_message(**changes: Any) -> UserUttered:
    """A user event as the shipped pipeline parses "where is my order 10002?" (trimmed of its vector)."""
    ranking = [
        {"name": "order_status", "confidence": 0.9512176931706114},
        {"name": "inform", "confidence": 0.038625795733701},
        {"name": "delivery_problem", "confidence": 0.002671605910211496},
        {"name": "return_or_refund", "confidence": 0.0016245997170086502},
    ]
    metadata = {"attune": {"customer": "cust-1", "emotion_processing": "on"}}
    parse_data = {
        "intent": dict(ranking[0]),
        "entities": [{"entity": "order_id", "start": 18, "end": 23, "value": "10002"}],
        "text": "where is my order 10002?",
        "message_id": "m-1",
        "metadata": metadata,
        "language": {"code": "und", "supported": True, "confidence": 0.0, "reason": "too_short"},
        "text_tokens": [[0, 5], [6, 8], [9, 11], [12, 17], [18, 23]],
        "emotion": {
            "model": "attune-emotion-1",
            "top": "neutral",
            "probabilities": dict(PROBABILITIES),
            "cues": dict(CUES),
            "vector": "f38A",
        },
        "intent_ranking": ranking,
    } | changes
    return UserUttered(
        "where is my order 10002?",
        parse_data["intent"],
        parse_data["entities"],
        parse_data,
        timestamp=100.0,
        input_channel="rest",
        message_id="m-1",
        metadata=metadata,
    )


def bot_reply() -> BotUttered:
    data = {"elements": None, "quick_replies": None, "buttons": None, "attachment": None, "image": None}
    metadata = {"utter_action": "utter_order_in_transit", "template": "utter_order_in_transit"}
    return BotUttered("Order 10002 is on its way.", {**data, "custom": None}, metadata, timestamp=101.0)


async def stored_and_read(
    tmp_path: Path, domain: Domain, *events: Any
) -> tuple[list[str], DialogueStateTracker]:
    """``events`` saved through the shipped store: the rows it wrote, and the tracker Rasa reads back."""
    store = GuardedSQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "tracker.db"), window_turns=0)
    tracker = DialogueStateTracker(SENDER, domain.slots)
    for event in events:
        tracker.update(event)
    await store.save(tracker)
    with sqlite3.connect(tmp_path / "tracker.db") as db:
        rows = [data for (data,) in db.execute("select data from events order by id")]
    back = await store.retrieve(SENDER)
    assert back is not None
    return rows, back


async def test_a_stored_user_event_keeps_what_is_read_later_in_under_half_the_bytes(
    tmp_path: Path, domain: Domain
) -> None:
    full = len(json.dumps(user_message().as_dict()))

    rows, back = await stored_and_read(tmp_path, domain, user_message())

    stored = json.loads(rows[0])
    parse = stored["parse_data"]
    assert len(rows[0]) < 0.55 * full, (len(rows[0]), full)
    assert "text_tokens" not in parse and "text" not in parse and "message_id" not in parse
    # The emotion reading: two decimals, the near-zero ones gone (the top one always stays), the
    # cues that fired, no vector.
    assert parse["emotion"] == {
        "model": "attune-emotion-1",
        "top": "neutral",
        "probabilities": {"confusion": 0.1, "neutral": 0.75},
        "cues": {"exclamations": 0.5, "repetition": 1.0},
    }
    assert parse["language"] == {"code": "und", "supported": True}
    assert [i["confidence"] for i in parse["intent_ranking"]] == [0.9512, 0.0386, 0.0027]
    assert parse["intent"] == {"name": "order_status", "confidence": 0.9512}
    # Rasa rebuilds what was left out from the event's own fields.
    user = next(e for e in back.events if isinstance(e, UserUttered))
    assert user.parse_data["text"] == user.text == "where is my order 10002?"
    assert user.parse_data["message_id"] == user.message_id == "m-1"
    assert user.intent_name == "order_status" and user.entities[0]["value"] == "10002"


async def test_what_attune_reads_from_an_older_message_reads_the_same(tmp_path: Path, domain: Domain) -> None:
    original = user_message().as_dict()

    _, back = await stored_and_read(tmp_path, domain, user_message())

    read_back = next(e for e in back.events if isinstance(e, UserUttered)).as_dict()
    # The score inputs: the cues (a cue left out reads as 0) and the top emotion.
    assert Cues(**read_back["parse_data"]["emotion"]["cues"]) == Cues(**CUES)
    assert read_back["parse_data"]["emotion"]["top"] == "neutral"
    assert unread_language(read_back) == unread_language(original)
    assert language_of(read_back) == language_of(original)


async def test_a_message_in_a_language_the_models_do_not_read_stays_one(
    tmp_path: Path, domain: Domain
) -> None:
    german = {"code": "de", "supported": False, "confidence": 0.97, "reason": "detected"}

    rows, _ = await stored_and_read(tmp_path, domain, user_message(language=german))

    assert json.loads(rows[0])["parse_data"]["language"] == {"code": "de", "supported": False}
    assert unread_language(json.loads(rows[0])) == "de"


async def test_a_bot_event_keeps_its_words_and_response_name_without_its_empty_entries(
    tmp_path: Path, domain: Domain
) -> None:
    rows, back = await stored_and_read(tmp_path, domain, bot_reply())

    stored = json.loads(rows[0])
    assert stored["data"] == {}
    assert stored["metadata"] == {"utter_action": "utter_order_in_transit"}  # the transcript reads it
    bot = next(e for e in back.events if isinstance(e, BotUttered))
    assert bot.text == "Order 10002 is on its way." and bot.data == {}


@pytest.mark.parametrize(
    "emotion",
    [
        {"probabilities": {"anger": "high", "joy": True, "neutral": None}, "cues": {"caps_ratio": "x"}},
        {"probabilities": ["anger"], "cues": "none"},
        {"error": "emotion model not trained"},
        {"skipped": "emotion processing is off for this customer"},
    ],
)
def test_a_reading_that_is_not_numbers_is_stored_as_it_came(emotion: dict[str, Any]) -> None:
    message = user_message(
        emotion=emotion, intent_ranking="not a list", intent={"name": "x", "confidence": "?"}
    )
    tracker = DialogueStateTracker.from_events(SENDER, [message])

    slim_for_storage(tracker)

    parse = next(e for e in tracker.events if isinstance(e, UserUttered)).parse_data
    assert parse["emotion"] == emotion
    assert parse["intent"] == {"name": "x", "confidence": "?"}
