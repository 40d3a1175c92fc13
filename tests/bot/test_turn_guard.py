"""Around each message of every channel: text normalised, and an honest reply when handling fails."""

import logging
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.domain import Domain

from bot.components import tracker_store
from bot.components.action_retry import ActionServerUnavailable
from bot.components.tracker_store import GuardedSQLTrackerStore, TrackerStoreFailure
from bot.components.turn_guard import NOT_PROCESSED_TEXT, protected

ROOT = Path(__file__).resolve().parents[2]


def message(text: str | None = "where is my order?", sender: str = "customer-1") -> UserMessage:
    return UserMessage(text, CollectingOutputChannel(), sender, input_channel="rest")


def replies(sent: UserMessage) -> list[str]:
    assert isinstance(sent.output_channel, CollectingOutputChannel)
    return [str(m.get("text")) for m in sent.output_channel.messages]


async def test_the_bot_gets_text_it_can_encode() -> None:
    seen: list[Any] = []

    async def bot(received: UserMessage) -> None:
        seen.append(received.text)

    await protected(bot)(message("where is \udfffmy order\x00? \u05e9\u05dc\u05d5\u05dd e\u0301"))
    await protected(bot)(message(None))

    assert seen == ["where is \ufffdmy order\ufffd? \u05e9\u05dc\u05d5\u05dd e\u0301", None]
    seen[0].encode("utf-8")


@pytest.mark.parametrize(
    "failure",
    [
        TrackerStoreFailure("the tracker store failed: OperationalError('database is locked')"),
        ActionServerUnavailable("action_lookup_order", 9, 15.0, ConnectionRefusedError()),
        RuntimeError("the featurizer fell over"),
    ],
    ids=["tracker-store", "action-server", "anything-else"],
)
async def test_a_failure_is_logged_and_the_customer_told_their_message_was_not_processed(
    failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    async def bot(received: UserMessage) -> None:
        await received.output_channel.send_text_message(received.sender_id, "Let me look that up.")
        raise failure

    sent = message()
    with caplog.at_level(logging.ERROR, logger="bot.components.turn_guard"):
        await protected(bot)(sent)

    assert replies(sent) == [NOT_PROCESSED_TEXT]  # what was said before is not what was stored
    assert "'customer-1' on rest: message not processed" in caplog.text
    assert str(failure) in caplog.text


async def test_on_a_channel_that_sends_at_once_the_apology_follows_what_was_sent() -> None:
    class Sending(OutputChannel):
        def __init__(self) -> None:
            self.sent: list[str] = []

        async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
            self.sent.append(text)

    async def bot(received: UserMessage) -> None:
        await received.output_channel.send_text_message(received.sender_id, "Let me look that up.")
        raise RuntimeError("boom")

    channel = Sending()
    await protected(bot)(UserMessage("hi", channel, "web-1", input_channel="socketio"))

    assert channel.sent == ["Let me look that up.", NOT_PROCESSED_TEXT]


async def test_a_channel_that_cannot_send_the_apology_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(CollectingOutputChannel):
        async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
            raise ConnectionResetError("socket gone")

    async def bot(_: UserMessage) -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="bot.components.turn_guard"):
        await protected(bot)(UserMessage("hi", Broken(), "customer-1"))

    assert "could not tell 'customer-1'" in caplog.text


@pytest.fixture
def fail_requests() -> None:
    """``tracker_store.install()`` for one test (tests/bot/conftest.py puts Rasa back after it)."""
    tracker_store.install()


async def test_an_id_the_store_cannot_take_gets_an_honest_answer_and_the_next_customer_is_served(
    tmp_path: Path, fail_requests: None
) -> None:
    """Behind the channels' checks: the store fails one message (Rasa 3.6 exited the process)."""
    store = FailSafeTrackerStore(GuardedSQLTrackerStore(Domain.empty(), db=str(tmp_path / "tracker.db")))

    async def bot(received: UserMessage) -> None:  # what Rasa's processor does first and last
        tracker = await store.get_or_create_tracker(received.sender_id)
        await received.output_channel.send_text_message(received.sender_id, "Hello!")
        await store.save(tracker)

    refused, served = message(sender="x\udfff"), message(sender="customer-2")
    await protected(bot)(refused)
    await protected(bot)(served)

    assert replies(refused) == [NOT_PROCESSED_TEXT]
    assert replies(served) == ["Hello!"]
    assert await store.retrieve("customer-2") is not None


def test_the_domain_names_the_apology_word_for_word() -> None:
    """The channels send it themselves (the store or the action server may be down); the domain
    response lets the conversation tests and bench/faults.py recognise it as "try again".
    """
    responses = yaml.safe_load((ROOT / "domain.yml").read_text())["responses"]

    assert responses.get("utter_message_not_processed") == [{"text": NOT_PROCESSED_TEXT}]
