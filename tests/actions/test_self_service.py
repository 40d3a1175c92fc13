from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.self_service import ActionConfirmCancellation, ActionLookup, latest_topic
from actions.store.gateway import DemoStore
from tests.support.demo_store import TODAY
from tests.support.trackers import tracker, user_event

# Who the Rasa server verified (bot/components/verified_identity.py): Ada, by a site-signed token.
ADA = {"attune": {"verified": {"id": "C-1002"}}}


async def run_lookup(store: DemoStore, slots: dict, events: list) -> tuple[list, list]:
    dispatcher = CollectingDispatcher()
    action = ActionLookup(store=lambda: store, today=lambda: TODAY)
    result = await action.run(dispatcher, tracker(slots, events), {})
    return result, dispatcher.messages


async def test_order_in_transit_is_answered_with_its_eta(store: DemoStore) -> None:
    events, messages = await run_lookup(
        store,
        {"order_id": "10002", "failed_attempts": 1.0},
        [user_event("order_status", "where is 10002", metadata=ADA)],
    )

    assert events == [
        SlotSet("topic", "order_status"),
        SlotSet("last_outcome", "in_transit"),
        SlotSet("failed_attempts", 0.0),  # a success ends the run of failures
        SlotSet(
            "self_service_attempt",
            {
                "asked": "where is 10002",
                "topic": "order_status",
                "tried": "action_lookup with order 10002",
                "outcome": "in_transit",
                "failed": False,
                "why": "",
            },
        ),
        SlotSet("verification_pending", False),
    ]
    assert messages[0]["response"] == "utter_order_in_transit"
    assert messages[0]["eta"] == "Wed 11 Mar"
    assert messages[0]["tracking_code"] == "PP1000200"


async def test_unknown_order_is_a_failed_attempt_and_forgets_the_number(store: DemoStore) -> None:
    events, messages = await run_lookup(
        store, {"order_id": "99999", "failed_attempts": 0.0}, [user_event("order_status", "where's 99999?")]
    )

    assert events == [
        SlotSet("topic", "order_status"),
        SlotSet("last_outcome", "order_not_found"),
        SlotSet("failed_attempts", 1.0),
        SlotSet(
            "self_service_attempt",
            {
                "asked": "where's 99999?",
                "topic": "order_status",
                "tried": "action_lookup with order 99999",
                "outcome": "order_not_found",
                "failed": True,
                "why": "no order with that number exists",
            },
        ),
        SlotSet("order_id", None),
    ]
    assert [m["response"] for m in messages] == ["utter_order_not_found"]


async def test_second_failure_adds_the_human_hint(store: DemoStore) -> None:
    _, messages = await run_lookup(
        store,
        {"order_id": "10006", "failed_attempts": 1.0, "email": "cleo@example.com"},
        [user_event("refund_status")],
    )

    assert [m["response"] for m in messages] == ["utter_refund_processing", "utter_human_hint"]


async def test_bare_order_number_after_a_request_answers_that_request(store: DemoStore) -> None:
    history = [user_event("refund_status"), user_event("inform", "10007")]

    events, messages = await run_lookup(store, {"order_id": "10007", "postcode": "pp4 2ln"}, history)

    assert SlotSet("last_outcome", "refund_done") in events
    assert messages[0]["response"] == "utter_refund_done"


async def test_bare_order_number_without_a_request_asks_what_for(store: DemoStore) -> None:
    events, messages = await run_lookup(store, {"order_id": "10001"}, [user_event("inform", "10001")])

    assert events == []
    assert messages[0]["response"] == "utter_ask_what_for"


async def test_damaged_delivery_opens_one_refund_only(store: DemoStore) -> None:
    slots = {"order_id": "10005", "problem": "damaged"}
    cleo = {"attune": {"verified": {"id": "C-1004"}}}
    await run_lookup(store, slots, [user_event("delivery_problem", metadata=cleo)])
    await run_lookup(store, slots, [user_event("delivery_problem", metadata=cleo)])

    order = store.find_order("10005")
    assert order is not None
    assert [(r.reason, r.status) for r in order.refunds] == [("damaged", "processing")]


async def test_a_verified_customer_cancels_their_subscription_after_confirming(store: DemoStore) -> None:
    events, messages = await run_lookup(store, {}, [user_event("cancel_subscription", metadata=ADA)])
    assert SlotSet("pending_cancellation", True) in events
    assert messages[0]["response"] == "utter_confirm_cancellation"

    dispatcher = CollectingDispatcher()
    confirm = ActionConfirmCancellation(store=lambda: store, today=lambda: TODAY)
    events = await confirm.run(dispatcher, tracker({}, [user_event("affirm", metadata=ADA)]), {})

    assert events[0] == SlotSet("pending_cancellation", False)
    assert dispatcher.messages[0]["response"] == "utter_subscription_cancelled"
    customer = store.find_customer("ada@example.com")
    assert customer is not None
    assert customer.subscriptions[0].status == "cancelled"


async def test_already_cancelled_subscription_is_a_failed_attempt(store: DemoStore) -> None:
    ben = {"attune": {"verified": {"id": "C-1003", "email": "ben@example.com"}}}
    events, messages = await run_lookup(
        store, {"email": "ben@example.com"}, [user_event("cancel_subscription", metadata=ben)]
    )

    assert SlotSet("failed_attempts", 1.0) in events
    assert messages[0]["response"] == "utter_subscription_already_cancelled"


async def test_store_failure_still_gives_the_customer_a_reply() -> None:
    def broken_store() -> DemoStore:
        raise OSError("disk on fire")

    dispatcher = CollectingDispatcher()
    action = ActionLookup(store=broken_store, today=lambda: TODAY)
    events = await action.run(dispatcher, tracker({"order_id": "10001"}, [user_event("order_status")]), {})

    # A lookup that broke is a failed attempt for the customer (tests/actions/test_failures.py).
    assert events == [
        SlotSet("last_outcome", "lookup_error"),
        SlotSet("failed_attempts", 1.0),
        SlotSet(
            "self_service_attempt",
            {
                "asked": "",
                "topic": "order_status",
                "tried": "action_lookup with order 10001",
                "outcome": "lookup_error",
                "failed": True,
                "why": "the assistant could not look it up because of an error on our side",
            },
        ),
    ]
    assert [m["response"] for m in dispatcher.messages] == ["utter_something_went_wrong"]


def test_latest_topic_skips_small_talk() -> None:
    history = [user_event("billing_issue"), user_event("thank"), user_event("inform")]

    assert latest_topic(tracker({}, history)) == "billing_issue"


def test_a_request_before_the_posted_turns_is_remembered_by_the_topic_slot() -> None:
    """Issue 18's rolling window posts only the last turns: "and order 10002?" still means a lookup."""
    window = [user_event("inform"), user_event("thank"), user_event("inform")]

    assert latest_topic(tracker({"topic": "order_status"}, window)) == "order_status"
    assert latest_topic(tracker({"topic": "order_status"}, [user_event("refund_status")])) == "refund_status"
    assert latest_topic(tracker({"topic": "not-a-topic"}, window)) is None
    assert latest_topic(tracker({}, window)) is None
