"""The action server's log lines are masked: an SMS customer's conversation id is their phone number."""

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import bootstrap
from actions.base import EventList, SafeAction


class ActionThatFails(SafeAction):
    def name(self) -> str:
        return "action_that_fails"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        raise RuntimeError(f"lookup failed for ada@example.com ({tracker.sender_id})")


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """A handler on the root logger, as rasa-sdk sets one up before it loads the actions."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    bootstrap.reset()  # masking is installed once per container: this test's handler gets it
    yield stream
    root.removeHandler(handler)
    bootstrap.reset()


async def test_a_failing_action_logs_the_customer_masked(log_output: io.StringIO) -> None:
    dispatcher = CollectingDispatcher()
    tracker = Tracker("+447700900123", {}, {}, [], False, None, {}, "")

    await ActionThatFails().run(dispatcher, tracker, {})

    logged = log_output.getvalue()
    assert "action action_that_fails failed for conversation ••••23" in logged
    assert "RuntimeError: lookup failed for a***@example.com (••••23)" in logged
    assert "+447700900123" not in logged and "ada@example.com" not in logged
    assert dispatcher.messages[0]["response"] == "utter_something_went_wrong"
