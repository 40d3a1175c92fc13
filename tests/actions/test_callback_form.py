"""The call-back conversation: checking each answer, the questions, and the request to the service.

Trackers are built inline; the request goes to the real handoff service app on loopback.
"""

import dataclasses
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.callback_form import (
    ActionAskCallbackConsent,
    ActionAskCallbackPhone,
    ActionAskCallbackTime,
    ActionRequestCallback,
    ValidateCallbackForm,
)
from actions.clients.handoff import HandoffClient
from actions.outbox import Outbox
from handoff.app import create_app
from handoff.callbacks import call_jobs
from handoff.core.app_keys import ENGINE
from handoff.core.models import Handoff
from handoff.core.settings import Settings
from tests.support.ports import free_port
from tests.support.trackers import BASE_SLOTS, callback_form_answer, conversation

TOKEN = "callback-test-token-000"
OPEN = datetime(2026, 11, 25, 14, 0, tzinfo=timezone.utc)  # a Wednesday afternoon in London
NIGHT = datetime(2026, 11, 25, 23, 0, tzinfo=timezone.utc)


async def validate(slot: str, tracker: Tracker) -> tuple[dict[str, Any], list[str]]:
    dispatcher = CollectingDispatcher()
    method = getattr(ValidateCallbackForm(), f"validate_{slot}")
    result = await method(tracker.latest_message["text"], dispatcher, tracker, {})
    return result, [m["response"] for m in dispatcher.messages]


async def test_a_typed_number_is_checked_and_kept_in_e164() -> None:
    assert await validate("callback_phone", callback_form_answer("it's 07911 123456", "inform")) == (
        {"callback_phone": "+447911123456"},
        [],
    )
    assert await validate("callback_phone", callback_form_answer("+1 202 555 0123 please", "inform")) == (
        {"callback_phone": "+12025550123"},
        [],
    )
    assert await validate("callback_phone", callback_form_answer("123", "inform")) == (
        {"callback_phone": None},
        ["utter_callback_bad_number"],
    )


async def test_on_sms_yes_means_the_number_the_customer_is_writing_from() -> None:
    sms = callback_form_answer("yes", "affirm", channel="twilio", sender="sms:+447911123456")
    whatsapp = callback_form_answer("yes", "affirm", channel="twilio", sender="whatsapp:+447911123457")
    on_web = callback_form_answer("yes", "affirm", sender="web:0123456789abcdef0123456789abcdef")

    assert (await validate("callback_phone", sms))[0] == {"callback_phone": "+447911123456"}
    assert (await validate("callback_phone", whatsapp))[0] == {"callback_phone": "+447911123457"}
    assert await validate("callback_phone", on_web) == (
        {"callback_phone": None},
        ["utter_callback_bad_number"],
    )


# Issue 13: a REST client may name itself after somebody's phone number; the conversation id says
# it is not an SMS conversation (rest:…), whatever the client writes as its channel.  A raw number
# is an id from before namespacing (bot/conversation_id_migration.py renames those): not trusted.
NOT_THE_CUSTOMERS_NUMBER = [
    ("rest", "rest:+447911123456"),
    ("twilio", "rest:+447911123456"),
    ("twilio", "+447911123456"),
]


@pytest.mark.parametrize(("channel", "sender"), NOT_THE_CUSTOMERS_NUMBER)
async def test_a_client_named_after_a_phone_number_is_not_offered_a_call_to_it(
    channel: str, sender: str
) -> None:
    dispatcher = CollectingDispatcher()
    await ActionAskCallbackPhone().run(
        dispatcher, callback_form_answer("call me", "request_callback", channel, sender), {}
    )

    assert [m["response"] for m in dispatcher.messages] == ["utter_callback_ask_number"]
    assert await validate("callback_phone", callback_form_answer("yes", "affirm", channel, sender)) == (
        {"callback_phone": None},
        ["utter_callback_bad_number"],
    )
    # The number typed in is taken: then it is the customer's own statement, confirmed with consent.
    assert (
        await validate("callback_phone", callback_form_answer("+447911123456", "inform", channel, sender))
    )[0] == {"callback_phone": "+447911123456"}


@pytest.mark.parametrize("slot", ["callback_phone", "callback_time", "callback_consent"])
async def test_declining_at_any_question_ends_the_form_without_a_call(slot: str) -> None:
    declined = {"callback_phone": "declined", "callback_time": "declined", "callback_consent": "declined"}
    assert (await validate(slot, callback_form_answer("no", "deny")))[0] == declined
    assert (await validate(slot, callback_form_answer("oh forget it", "inform")))[0] == declined


async def test_the_number_question_depends_on_the_channel() -> None:
    async def ask(tracker: Tracker) -> list[dict[str, Any]]:
        dispatcher = CollectingDispatcher()
        await ActionAskCallbackPhone().run(dispatcher, tracker, {})
        return dispatcher.messages

    sms = await ask(
        callback_form_answer("call me", "request_callback", channel="twilio", sender="sms:+447911123456")
    )
    web = await ask(callback_form_answer("call me", "request_callback"))

    assert [(m["response"], m.get("number")) for m in sms] == [
        ("utter_callback_confirm_own_number", "••••56")
    ]
    assert [m["response"] for m in web] == ["utter_callback_ask_number"]


async def test_times_offered_follow_business_and_quiet_hours_and_the_answer_picks_one() -> None:
    async def ask(now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        dispatcher = CollectingDispatcher()
        tracker = callback_form_answer("07911 123456", "inform", slots={"callback_phone": "+447911123456"})
        events = await ActionAskCallbackTime(clock=lambda: now).run(dispatcher, tracker, {})
        return events, dispatcher.messages

    open_events, open_messages = await ask(OPEN)
    night_events, night_messages = await ask(NIGHT)
    offered = open_events[0]["value"]

    assert open_messages[0]["response"] == "utter_callback_ask_time"
    assert [b["title"] for b in open_messages[0]["buttons"]] == [
        "Now",
        "Today 16:00-18:00 GMT",
        "Tomorrow 08:00-10:00 GMT",
    ]
    assert night_messages[0]["response"] == "utter_callback_ask_time_later"
    assert [o["label"] for o in night_events[0]["value"]] == [
        "Tomorrow 08:00-10:00 GMT",
        "Friday 08:00-10:00 GMT",
    ]

    answer = callback_form_answer("2", "inform", slots={"callback_options": offered})
    chosen, said = await validate("callback_time", answer)
    unclear, unclear_said = await validate(
        "callback_time", callback_form_answer("purple", "inform", slots=answer.slots)
    )
    assert chosen["callback_time"]["start"] == "2026-11-25T16:00:00+00:00" and said == []
    assert unclear == {"callback_time": None} and unclear_said == ["utter_callback_pick_again"]


async def test_consent_is_a_yes_to_that_number_and_time_and_is_recorded_with_its_time() -> None:
    dispatcher = CollectingDispatcher()
    window = {
        "label": "Today 16:00-18:00 GMT",
        "start": None,
        "end": None,
        "when": "today between 16:00 and 18:00",
    }
    slots = {"callback_phone": "+447911123456", "callback_time": window}
    await ActionAskCallbackConsent().run(dispatcher, callback_form_answer("2", "inform", slots=slots), {})

    yes, _ = await validate("callback_consent", callback_form_answer("yes", "affirm"))
    unclear, unclear_said = await validate("callback_consent", callback_form_answer("hmm", "inform"))

    assert dispatcher.messages[0]["response"] == "utter_callback_confirm"
    assert (dispatcher.messages[0]["number"], dispatcher.messages[0]["when"]) == ("••••56", window["when"])
    assert datetime.fromisoformat(yes["callback_consent"]).tzinfo is not None
    assert unclear == {"callback_consent": None} and unclear_said == ["utter_callback_yes_or_no"]


@pytest.fixture
def service_settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'handoff.db'}", log_format="text", api_token=TOKEN)


def booked(slots: dict[str, Any]) -> Tracker:
    tracker = conversation({**BASE_SLOTS, **slots})
    tracker.active_loop = {}
    return tracker


NOW_SLOTS = {
    "callback_phone": "+447911123456",
    "callback_time": {"label": "Now", "start": None, "end": None, "when": "in the next few minutes"},
    "callback_consent": "2026-11-25T14:00:05+00:00",
}


async def request(tracker: Tracker, client: HandoffClient, outbox: Outbox) -> tuple[list[Any], list[Any]]:
    dispatcher = CollectingDispatcher()
    events = await ActionRequestCallback(outbox=lambda: outbox, client=lambda: client).run(
        dispatcher, tracker, {}
    )
    return events, dispatcher.messages


async def test_a_booked_call_back_reaches_the_service_as_a_handoff_with_a_call_job(
    aiohttp_server, tmp_path: Path, service_settings: Settings
) -> None:
    app = create_app(service_settings)
    server = await aiohttp_server(app)
    client = HandoffClient(str(server.make_url("")).rstrip("/"), TOKEN)
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'outbox.db'}")
    later = {
        **NOW_SLOTS,
        "callback_consent": "2026-11-25T14:01:00+00:00",
        "callback_time": {
            "label": "Today 16:00-18:00 GMT",
            "start": "2036-11-25T16:00:00+00:00",
            "end": "2036-11-25T18:00:00+00:00",
            "when": "today between 16:00 and 18:00 GMT",
        },
    }

    now_events, now_said = await request(booked(NOW_SLOTS), client, outbox)
    later_events, later_said = await request(booked(later), client, outbox)

    assert [(m["response"], m.get("number")) for m in now_said] == [("utter_callback_now", "••••56")]
    assert [(m["response"], m.get("when")) for m in later_said] == [
        ("utter_callback_booked", "today between 16:00 and 18:00 GMT")
    ]
    assert {"event": "slot", "timestamp": None, "name": "callback_phone", "value": None} in now_events
    assert now_events[-1]["value"] == "pending" and later_events[-1]["value"] == "pending"
    engine = app[ENGINE]
    with Session(engine) as session:
        handoffs = session.query(Handoff).all()
    assert len(handoffs) == 2 and all(h.priority >= 1 for h in handoffs)
    jobs = [job for h in handoffs for job in call_jobs.jobs_for(engine, h.id)]
    assert sorted(j.to_number for j in jobs) == ["+447911123456"] * 2
    assert datetime(2036, 11, 25, 16, tzinfo=timezone.utc) in [j.next_attempt_at for j in jobs]
    assert all("+447911123456" not in h.payload for h in handoffs)


async def test_the_customer_hears_about_the_daily_limit_a_slow_service_and_a_change_of_mind(
    aiohttp_server, tmp_path: Path, service_settings: Settings
) -> None:
    app = create_app(dataclasses.replace(service_settings, callback_daily_limit=0))
    server = await aiohttp_server(app)
    up = HandoffClient(str(server.make_url("")).rstrip("/"), TOKEN)
    down = HandoffClient(f"http://127.0.0.1:{free_port()}", TOKEN, timeout=0.5)
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'outbox.db'}")
    declined = {slot: "declined" for slot in NOW_SLOTS}

    limit_events, limit = await request(booked(NOW_SLOTS), up, outbox)
    _, slow = await request(
        booked({**NOW_SLOTS, "callback_consent": "2026-11-25T15:00:00+00:00"}), down, outbox
    )
    declined_events, no_call = await request(booked(declined), up, outbox)

    assert [m["response"] for m in limit] == ["utter_callback_limit"] and limit_events[-1][
        "value"
    ] == "rate_limited"
    assert [m["response"] for m in slow] == ["utter_callback_delayed"]
    assert [m["response"] for m in no_call] == ["utter_callback_declined"]
    assert declined_events[-1]["value"] == "declined"
    with Session(app[ENGINE]) as session:
        assert session.query(Handoff).count() == 1  # the declined booking sent nothing
