"""Actions that look things up in the demo store and tell the customer what they found."""

import asyncio
from collections.abc import Callable
from datetime import date
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import account_requests, order_requests
from actions.base import EventList, SafeAction
from actions.outcomes import Outcome, failure_reason
from actions.resources import demo_store
from actions.store.gateway import DemoStore
from bot import constants as c

StoreProvider = Callable[[], DemoStore]
TOPICS = (*c.ORDER_TOPICS, *c.ACCOUNT_TOPICS)
FAILURES_BEFORE_HINT = 2
# Attempts kept in the self_service_log slot (the handoff payload lists them).
LOG_LENGTH = 20
LOOKUP_ERROR = "lookup_error"  # the outcome of a lookup that raised (outcomes.FAILURE_REASONS)


def latest_topic(tracker: Tracker) -> str | None:
    """The most recent thing the customer asked for that needs a lookup (an order or account intent)."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = (event.get("parse_data") or {}).get("intent", {}).get("name")
        if intent in TOPICS:
            return str(intent)
    return None


def _failed_attempts(tracker: Tracker) -> int:
    value = tracker.get_slot(c.SLOT_FAILED_ATTEMPTS)
    return int(value) if isinstance(value, (int, float)) else 0


class StoreAction(SafeAction):
    """An action that reads or writes the demo store; the store is injectable for tests."""

    def __init__(self, store: StoreProvider = demo_store, today: Callable[[], date] = date.today) -> None:
        self._store = store
        self._today = today

    def failed(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> EventList:
        """A lookup that broke is, for the customer, a failed attempt: counted like any other, so the
        empathy engine (which reads ``failed_attempts``) sees it and can offer a person."""
        return self._tell(
            dispatcher, tracker, Outcome(LOOKUP_ERROR, "utter_something_went_wrong", failed=True)
        )

    def _tell(self, dispatcher: CollectingDispatcher, tracker: Tracker, outcome: Outcome) -> EventList:
        dispatcher.utter_message(response=outcome.response, **outcome.variables)
        # Consecutive failures: one success shows self-service works for this customer again.
        failures = _failed_attempts(tracker) + 1 if outcome.failed else 0
        attempt = {
            "asked": (tracker.latest_message or {}).get("text") or "",
            "topic": latest_topic(tracker),
            "tried": f"{self.name()} with "
            + (
                f"order {tracker.get_slot(c.SLOT_ORDER_ID)}"
                if tracker.get_slot(c.SLOT_ORDER_ID)
                else "the account e-mail"
            ),
            "outcome": outcome.code,
            "failed": outcome.failed,
            "why": failure_reason(outcome.code) if outcome.failed else "",
        }
        log = [*(tracker.get_slot(c.SLOT_SELF_SERVICE_LOG) or []), attempt][-LOG_LENGTH:]
        events: EventList = [
            SlotSet(c.SLOT_LAST_OUTCOME, outcome.code),
            SlotSet(c.SLOT_FAILED_ATTEMPTS, float(failures)),
            SlotSet(c.SLOT_SELF_SERVICE_LOG, log),
        ]
        events += [SlotSet(name, value) for name, value in outcome.slots.items()]
        if outcome.failed and failures >= FAILURES_BEFORE_HINT:
            dispatcher.utter_message(response="utter_human_hint")
        return events


class ActionLookup(StoreAction):
    """Answers the customer's latest order or account request from the demo store."""

    def name(self) -> str:
        return "action_lookup"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        topic = latest_topic(tracker)
        order_id = tracker.get_slot(c.SLOT_ORDER_ID)
        email = tracker.get_slot(c.SLOT_EMAIL)
        store, today = self._store(), self._today()

        if topic in c.ACCOUNT_TOPICS:
            if not email:
                dispatcher.utter_message(response="utter_ask_email")
                return [SlotSet(c.SLOT_TOPIC, topic)]
            outcome = await asyncio.to_thread(account_requests.handle, topic, str(email), store)
        elif topic in c.ORDER_TOPICS:
            if not order_id:
                dispatcher.utter_message(response="utter_ask_order_id")
                return [SlotSet(c.SLOT_TOPIC, topic)]
            problem = tracker.get_slot(c.SLOT_PROBLEM)
            outcome = await asyncio.to_thread(
                order_requests.handle, topic, str(order_id), problem, store, today
            )
        else:
            # A bare order number or e-mail with no request before it: ask what it is for.
            dispatcher.utter_message(
                response="utter_ask_what_for", order_id=order_id or "", email=email or ""
            )
            return []
        return [SlotSet(c.SLOT_TOPIC, topic), *self._tell(dispatcher, tracker, outcome)]


class ActionConfirmCancellation(StoreAction):
    """Cancels the Pine+ subscription the customer just agreed to cancel."""

    def name(self) -> str:
        return "action_confirm_cancellation"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        email = tracker.get_slot(c.SLOT_EMAIL)
        if not email:
            dispatcher.utter_message(response="utter_ask_email")
            return [SlotSet(c.SLOT_PENDING_CANCELLATION, False)]
        outcome = await asyncio.to_thread(
            account_requests.confirm_cancellation, str(email), self._store(), self._today()
        )
        return [SlotSet(c.SLOT_PENDING_CANCELLATION, False), *self._tell(dispatcher, tracker, outcome)]


class ActionKeepSubscription(SafeAction):
    """The customer changed their mind: nothing is cancelled."""

    def name(self) -> str:
        return "action_keep_subscription"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        dispatcher.utter_message(response="utter_cancellation_kept")
        return [SlotSet(c.SLOT_PENDING_CANCELLATION, False)]
