"""The actions an escalation decision leads to (bot/components/escalation_policy.py routes them).

``action_handoff`` builds the handoff payload (actions/handoff_payload.py) and delivers it through
the durable outbox (actions/handoff_delivery.py): the customer hears honestly whether the team
has it already or will get it as soon as the handoff service is reachable.  A call-back the
customer agreed to goes the same way, with the call attached (actions/callback_form.py).

``action_handoff`` is also what the ``request_human`` rule runs (data/rules/rules.yml) when the empathy
engine made no decision this turn (action_track_empathy failed or could not run): a customer who
asks for a person is handed off, or told plainly why not, never told that nobody can be reached.
"""

import abc
import logging
from collections.abc import Callable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import resources
from actions.base import EventList, SafeAction
from actions.clients.handoff import HandoffClient
from actions.handoff_delivery import DELIVERED, FAILED, QUEUED, DeliveryResult, deliver, settle
from actions.handoff_payload import build_payload
from actions.metrics import ActionServerMetrics, record
from actions.outbox import Outbox
from actions.self_service import ActionLookup
from bot.constants import (
    ENTITY_ORDER_ID,
    FORM_CALLBACK,
    ORDER_TOPICS,
    SLOT_EMPATHY_EXPLANATION,
    SLOT_HANDOFF_STATUS,
    SLOT_ORDER_ID,
    SLOT_REQUESTED,
)

logger = logging.getLogger(__name__)


def _log_decision(tracker: Tracker, action: str) -> None:
    explanation = tracker.get_slot(SLOT_EMPATHY_EXPLANATION) or {}
    logger.info(
        "escalation %s for conversation %s: %s",
        action,
        tracker.sender_id,
        (explanation.get("decision") if isinstance(explanation, dict) else None) or "no explanation recorded",
    )


def names_an_order_request(tracker: Tracker) -> bool:
    """The latest message asks for something about an order and gives its number ("order 10004 … refund")."""
    message = tracker.latest_message or {}
    intent = (message.get("intent") or {}).get("name")
    named = any(
        isinstance(entity, dict) and entity.get("entity") == ENTITY_ORDER_ID
        for entity in message.get("entities") or []
    )
    return intent in ORDER_TOPICS and named and bool(tracker.get_slot(SLOT_ORDER_ID))


class ActionOfferHuman(SafeAction):
    """Offers a person; first answers what the message asked, when the bot can (issue 16).

    A long angry message that names an order and asks for a refund gets the answer about that order
    (or the honest verification step) and then the offer, not the offer alone.
    """

    def __init__(self, lookup: Callable[[], Action] = ActionLookup) -> None:
        self._lookup = lookup

    def name(self) -> str:
        return "action_offer_human"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        _log_decision(tracker, self.name())
        events: EventList = []
        if names_an_order_request(tracker):
            # Never raises: a lookup that breaks answers with its own apology (actions/base.py).
            events = list(await self._lookup().run(dispatcher, tracker, domain))
        dispatcher.utter_message(response="utter_offer_human")
        return events


class ActionOfferCallback(SafeAction):
    def name(self) -> str:
        return "action_offer_callback"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        _log_decision(tracker, self.name())
        dispatcher.utter_message(response="utter_offer_callback")
        return []


class HandoffSender(SafeAction, abc.ABC):
    """Shared by the actions that send a handoff (a plain one, or one carrying a call-back)."""

    def __init__(
        self,
        outbox: Callable[[], Outbox] = resources.outbox,
        client: Callable[[], HandoffClient] = resources.handoff_client,
        metrics: Callable[[], ActionServerMetrics] = resources.metrics,
    ) -> None:
        self._outbox = outbox
        self._client = client
        self._metrics = metrics

    async def send(self, kind: str, payload: dict[str, Any]) -> DeliveryResult:
        """Through the durable outbox; one left pending is retried by the background flusher.

        Never raises: if delivery breaks half-way, the outbox says what is true (saved, or not).
        """
        key = str(payload["idempotency_key"])
        try:
            outbox = self._outbox()
        except Exception:
            logger.exception("the outbox cannot be opened; handoff %s not saved", key)
            result = DeliveryResult(FAILED, None, "the outbox could not be opened")
        else:
            try:
                result = await deliver(payload, outbox, self._client())
            except Exception:
                logger.exception("delivery of handoff %s broke off", key)
                result = await settle(outbox, key)
        if result.status == QUEUED:
            try:
                resources.outbox_flusher().ensure_running()  # already running under actions/server.py
            except Exception:
                logger.exception("could not start the outbox flusher")
        record(self._metrics, lambda metrics: metrics.handoff_sent(kind, payload["reason"], result.status))
        return result

    async def hand_off(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> EventList:
        """Hands the conversation to the team and tells the customer honestly how that went.

        Used by ``action_handoff`` and by ``action_request_callback`` when the customer turned the
        call down and asked for a person in the same message.
        """
        if tracker.get_slot(SLOT_HANDOFF_STATUS) in (DELIVERED, QUEUED):
            # Asking again while the team already has it must not queue the customer twice.
            dispatcher.utter_message(response="utter_handoff_already")
            return []
        payload = dict(build_payload(tracker))
        result = await self.send("handoff", payload)
        logger.info("handoff %s for %s: %s", payload["idempotency_key"], tracker.sender_id, result.status)
        if result.status == DELIVERED and result.agents_online == 0:
            # Honest about it: nobody is there now; say where they are in line and what else they can do.
            dispatcher.utter_message(response="utter_handoff_no_agents", position=result.queue_position or 1)
        elif result.status == DELIVERED:
            dispatcher.utter_message(response="utter_handoff_sent")
            if result.queue_position and result.queue_position > 1:
                dispatcher.utter_message(response="utter_queue_position", position=result.queue_position)
        elif result.status == QUEUED:
            dispatcher.utter_message(response="utter_handoff_delayed")
        else:  # rejected, or not even saved: the customer needs another way to reach the team
            dispatcher.utter_message(response="utter_handoff_failed")
        events: EventList = [SlotSet(SLOT_HANDOFF_STATUS, result.status)]
        if (tracker.active_loop or {}).get("name") == FORM_CALLBACK:
            # "Just get me a person" in the middle of booking a call-back: the booking stops here.
            events += [ActiveLoop(None), SlotSet(SLOT_REQUESTED, None)]
        return events


class ActionHandoff(HandoffSender):
    """Sends the conversation, with its emotional context, to the handoff service."""

    def name(self) -> str:
        return "action_handoff"

    def failed(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> EventList:
        # What can raise comes before sending (building the payload); sending never raises and what
        # follows it only picks the reply: so nothing was saved or sent.
        dispatcher.utter_message(response="utter_handoff_failed")
        return [SlotSet(SLOT_HANDOFF_STATUS, FAILED)]

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        _log_decision(tracker, self.name())
        return await self.hand_off(dispatcher, tracker)
