"""Issue 16: forms that listen, and conversations that do not drop what the customer said.

- the call-back form: asking for a person, or changing the number, at every step;
  "no call, get me a person" in one message gets the person (one reply, one handoff);
- a low-confidence message naming an order gets a one-tap "Did you mean …?" (actions/clarify.py);
- a stale "yes"/"no" (an old button) is told so once, and reverted (action_default_fallback);
- an offer of a person after a message naming an order and a request answers that request first.

Trackers are built inline; handoffs go to the real handoff service app on loopback.
"""

from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.base import EventList, SafeAction
from actions.callback_form import ActionRequestCallback, ValidateCallbackForm
from actions.clarify import ActionClarifyRequest, ActionDefaultFallback, choices, named_order
from actions.clients.handoff import HandoffClient
from actions.escalation import ActionOfferHuman
from actions.outbox import Outbox
from handoff.app import create_app
from handoff.core.app_keys import ENGINE
from handoff.core.models import Handoff
from handoff.core.settings import Settings
from tests.support.trackers import BASE_SLOTS, callback_form_answer, conversation, tracker, user_event

TOKEN = "listening-test-token-00"
DECLINED = {"callback_phone": "declined", "callback_time": "declined", "callback_consent": "declined"}
STEPS = ["callback_phone", "callback_time", "callback_consent"]
NOW = {"label": "Now", "start": None, "end": None, "when": "in the next few minutes"}


async def validate(slot: str, answer: Tracker) -> tuple[dict[str, Any], list[str]]:
    dispatcher = CollectingDispatcher()
    method = getattr(ValidateCallbackForm(), f"validate_{slot}")
    result = await method(answer.latest_message["text"], dispatcher, answer, {})
    return result, [m["response"] for m in dispatcher.messages]


@pytest.mark.parametrize("slot", STEPS)
@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("no, don't call me, just get me a person", "deny"),
        ("I'd rather talk to someone in this chat", "request_callback"),
        ("agent", "inform"),
        ("get me a human", "request_human"),
    ],
)
async def test_asking_for_a_person_at_any_step_ends_the_booking(slot: str, text: str, intent: str) -> None:
    slots = {"callback_options": [NOW]}
    assert await validate(slot, callback_form_answer(text, intent, slots=slots)) == (DECLINED, [])


async def test_a_new_number_at_the_time_or_consent_step_is_taken_and_the_step_asked_again() -> None:
    slots = {"callback_phone": "+447911123456", "callback_options": [NOW], "callback_time": NOW}
    at_time = callback_form_answer("actually call 07911 123457 instead", "inform", slots=slots)
    at_consent = callback_form_answer("no wait, use +44 7911 123458", "inform", slots=slots)

    assert await validate("callback_time", at_time) == (
        {"callback_phone": "+447911123457", "callback_time": None},
        [],
    )
    assert await validate("callback_consent", at_consent) == (
        {"callback_phone": "+447911123458", "callback_consent": None},
        [],
    )


@pytest.fixture
def service_settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'handoff.db'}", log_format="text", api_token=TOKEN)


def declined_with(text: str, intent: str) -> Tracker:
    answer = conversation({**BASE_SLOTS, **DECLINED})
    answer.active_loop = {}
    answer.latest_message = {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text}
    return answer


async def test_no_call_but_a_person_gets_the_person_once_and_a_plain_no_gets_no_handoff(
    aiohttp_server, tmp_path: Path, service_settings: Settings
) -> None:
    app = create_app(service_settings)
    server = await aiohttp_server(app)
    client = HandoffClient(str(server.make_url("")).rstrip("/"), TOKEN)
    outbox = Outbox.open(f"sqlite:///{tmp_path / 'outbox.db'}")
    action = ActionRequestCallback(outbox=lambda: outbox, client=lambda: client)

    said_person, said_no = CollectingDispatcher(), CollectingDispatcher()
    person_events = await action.run(
        said_person, declined_with("no, don't call me, just get me a person", "deny"), {}
    )
    no_events = await action.run(said_no, declined_with("no thanks", "deny"), {})

    assert [m["response"] for m in said_person.messages] in (
        ["utter_handoff_sent"],
        ["utter_handoff_no_agents"],
    )
    assert {
        "event": "slot",
        "timestamp": None,
        "name": "callback_status",
        "value": "declined",
    } in person_events
    assert {
        "event": "slot",
        "timestamp": None,
        "name": "handoff_status",
        "value": "delivered",
    } in person_events
    assert [m["response"] for m in said_no.messages] == ["utter_callback_declined"]
    assert not any(e.get("name") == "handoff_status" for e in no_events)
    with Session(app[ENGINE]) as session:
        handoffs = session.query(Handoff).all()
    assert len(handoffs) == 1 and '"requested": false' in handoffs[0].payload  # a person, no call job


def low_confidence(text: str, ranking: list[str], entities: list[dict[str, Any]]) -> Tracker:
    event = user_event("nlu_fallback", text, entities)
    event["parse_data"]["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.5},
        *({"name": name, "confidence": 0.3 - 0.1 * i} for i, name in enumerate(ranking)),
    ]
    return tracker({}, [event])


ORDER_10003 = [{"entity": "order_id", "value": "10003", "start": 12, "end": 17}]


async def test_a_low_confidence_message_naming_an_order_gets_a_one_tap_question() -> None:
    dispatcher = CollectingDispatcher()
    asked = low_confidence(
        "wher is ordr 10003 pls", ["inform", "order_status", "delivery_problem"], ORDER_10003
    )

    await ActionClarifyRequest().run(dispatcher, asked, {})

    assert dispatcher.messages == [
        {
            **dispatcher.messages[0],
            "response": "utter_did_you_mean",
            "request": "where is order 10003",
            "buttons": [
                {"title": "Where is order 10003?", "payload": '/order_status{"order_id":"10003"}'},
                {
                    "title": "A problem with the delivery of order 10003?",
                    "payload": '/delivery_problem{"order_id":"10003"}',
                },
            ],
        }
    ]


@pytest.mark.parametrize(
    "entities",
    [
        [],
        [*ORDER_10003, {"entity": "order_id", "value": "10004"}],  # two orders: naming one would be a guess
        [{"entity": "order_id", "value": '1"}/x'}],  # never put into a payload
    ],
)
async def test_without_one_clean_order_number_the_customer_is_asked_to_say_it_another_way(
    entities: list[dict[str, Any]],
) -> None:
    dispatcher = CollectingDispatcher()
    await ActionClarifyRequest().run(dispatcher, low_confidence("hmm", ["order_status"], entities), {})

    assert [m["response"] for m in dispatcher.messages] == ["utter_default"]
    assert named_order({"entities": entities}) is None


def test_without_an_order_request_in_the_ranking_the_likely_request_is_the_order_status() -> None:
    assert choices("10003", ["order_status"]) == [
        {"title": "Where is order 10003?", "payload": '/order_status{"order_id":"10003"}'}
    ]


@pytest.mark.parametrize(
    ("intent", "response"),
    [("affirm", "utter_stale_answer"), ("deny", "utter_stale_answer"), ("greet", "utter_default")],
)
async def test_the_core_fallback_tells_a_stale_yes_or_no_so_once_and_reverts_it(
    intent: str, response: str
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionDefaultFallback().run(
        dispatcher, tracker({}, [user_event(intent, f"/{intent}")]), {}
    )

    assert [m["response"] for m in dispatcher.messages] == [response]
    assert events == [{"event": "rewind", "timestamp": None}]


class FakeLookup(SafeAction):
    def name(self) -> str:
        return "action_lookup"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        dispatcher.utter_message(response="utter_ask_order_proof", order_id=tracker.get_slot("order_id"))
        return [{"event": "slot", "timestamp": None, "name": "verification_pending", "value": True}]


RANT = (
    "This is the THIRD time I'm writing. Order 10004 never came, nobody answers my emails, "
    "it's a joke and I want my money back NOW"
)


async def test_an_offer_after_a_rant_naming_an_order_and_a_refund_answers_the_request_first() -> None:
    rant = tracker(
        {"order_id": "10004"},
        [user_event("return_or_refund", RANT, [{"entity": "order_id", "value": "10004"}])],
    )
    plain = tracker({"order_id": "10004"}, [user_event("complain", "this is useless")])
    dispatcher, plain_dispatcher = CollectingDispatcher(), CollectingDispatcher()

    events = await ActionOfferHuman(lookup=FakeLookup).run(dispatcher, rant, {})
    plain_events = await ActionOfferHuman(lookup=FakeLookup).run(plain_dispatcher, plain, {})

    assert [m["response"] for m in dispatcher.messages] == ["utter_ask_order_proof", "utter_offer_human"]
    assert events == [{"event": "slot", "timestamp": None, "name": "verification_pending", "value": True}]
    assert [m["response"] for m in plain_dispatcher.messages] == ["utter_offer_human"] and plain_events == []
