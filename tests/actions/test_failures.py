"""When a step fails, the customer hears the truth and the dialogue stays coherent.

No exception escapes an action's ``run``.  A handoff that broke off half-way is reported as what the
outbox holds (saved, or not); a lookup that broke counts as a failed attempt, as the empathy engine
expects; a form answer that could not be checked is asked for again.  Trackers are built inline.
"""

from pathlib import Path
from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import resources
from actions.callback_form import ActionRequestCallback, ValidateCallbackForm
from actions.clients.handoff import HandoffClient
from actions.empathy_tracking import ActionTrackEmpathy
from actions.escalation import ActionHandoff
from actions.outbox import Outbox
from actions.self_service import ActionLookup
from actions.store.gateway import DemoStore
from tests.support.ports import free_port
from tests.support.trackers import (
    BASE_SLOTS,
    callback_form_answer,
    conversation,
    tracker,
    user_event,
)

TOKEN = "failure-test-token-0000"


def nowhere() -> HandoffClient:
    return HandoffClient(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=0.3)


def responses(dispatcher: CollectingDispatcher) -> list[str]:
    return [m["response"] for m in dispatcher.messages]


class BrokenAfterSaving(Outbox):
    """An outbox whose bookkeeping breaks after the handoff is on disk (e.g. a locked database)."""

    def failed(self, key: str, error: str, now: float | None = None) -> None:
        raise RuntimeError("database is locked")


async def test_a_handoff_that_breaks_off_after_it_was_saved_is_told_as_saved(tmp_path: Path) -> None:
    outbox = BrokenAfterSaving.open(f"sqlite:///{tmp_path / 'outbox.db'}")
    dispatcher = CollectingDispatcher()

    events = await ActionHandoff(outbox=lambda: outbox, client=nowhere).run(
        dispatcher, conversation(BASE_SLOTS), {}
    )

    assert responses(dispatcher) == ["utter_handoff_delayed"]  # true: the flusher will send it
    assert events == [SlotSet("handoff_status", "queued")]
    assert outbox.pending_count() == 1


async def test_a_handoff_that_could_not_be_saved_is_told_plainly(tmp_path: Path) -> None:
    def no_outbox() -> Outbox:
        raise OSError("disk full")

    dispatcher = CollectingDispatcher()

    events = await ActionHandoff(outbox=no_outbox, client=nowhere).run(
        dispatcher, conversation(BASE_SLOTS), {}
    )

    assert responses(dispatcher) == ["utter_handoff_failed"]
    assert events == [SlotSet("handoff_status", "failed")]  # asking again tries again


async def test_a_handoff_that_cannot_even_be_built_is_told_plainly(tmp_path: Path) -> None:
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'outbox.db'}")
    dispatcher = CollectingDispatcher()
    broken = conversation(BASE_SLOTS)
    broken.events[0]["parse_data"]["intent"]["confidence"] = "high"  # not a number: building fails

    events = await ActionHandoff(outbox=lambda: outbox, client=nowhere).run(dispatcher, broken, {})

    assert responses(dispatcher) == ["utter_handoff_failed"]
    assert events == [SlotSet("handoff_status", "failed")]
    assert outbox.pending_count() == 0


async def test_a_call_back_that_cannot_be_built_is_told_plainly_and_the_form_is_cleared(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_hours() -> Any:
        raise ValueError("policy/business_hours.yml: business_hours missing")

    monkeypatch.setattr(resources, "callback_hours", no_hours)
    slots = {"callback_phone": "+447911123456", "callback_consent": "2026-11-25T14:00:00+00:00"}
    dispatcher = CollectingDispatcher()

    events = await ActionRequestCallback(client=nowhere).run(
        dispatcher, callback_form_answer("yes", "affirm", slots=slots), {}
    )

    assert responses(dispatcher) == ["utter_callback_failed"]
    assert SlotSet("callback_phone", None) in events and SlotSet("callback_status", "failed") in events


async def test_a_lookup_that_breaks_counts_as_a_failed_attempt(store: DemoStore) -> None:
    def broken_store() -> DemoStore:
        raise ConnectionError("store unreachable")

    dispatcher = CollectingDispatcher()
    slots = {"order_id": "10002", "failed_attempts": 1.0}

    events = await ActionLookup(store=broken_store).run(
        dispatcher, tracker(slots, [user_event("order_status", "where is 10002")]), {}
    )

    assert responses(dispatcher) == ["utter_something_went_wrong", "utter_human_hint"]
    slots_set = {e["name"]: e["value"] for e in events}
    assert slots_set["failed_attempts"] == 2.0  # what action_track_empathy reads next turn
    assert slots_set["last_outcome"] == "lookup_error"
    assert slots_set["self_service_attempt"]["failed"] is True


async def test_a_call_back_answer_that_cannot_be_checked_is_asked_for_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_hours() -> Any:
        raise ValueError("policy/business_hours.yml: business_hours missing")

    monkeypatch.setattr(resources, "callback_hours", no_hours)
    dispatcher = CollectingDispatcher()
    answer = callback_form_answer("07911 123456", "inform", slots={"requested_slot": "callback_phone"})
    # As Rasa sends it: the slot candidate it extracted, after the customer's message.
    answer.events.append({"event": "slot", "name": "callback_phone", "value": "07911 123456"})
    answer.slots["callback_phone"] = "07911 123456"
    domain = {"forms": {"callback_form": {"required_slots": ["callback_phone", "callback_time"]}}}

    events = await ValidateCallbackForm().run(dispatcher, answer, domain)

    assert responses(dispatcher) == ["utter_something_went_wrong"]
    assert events == [SlotSet("callback_phone", None)]  # the unchecked text does not stand


async def test_empathy_tracking_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise RuntimeError("logging handlers gone")

    monkeypatch.setattr(resources, "mask_logs", broken)

    events = await ActionTrackEmpathy().run(
        CollectingDispatcher(), tracker({}, [user_event("request_human", "a person please")]), {}
    )

    assert {e["name"]: e["value"] for e in events}["escalation"] == "handoff"
