"""The customer's say over emotion processing, and a plain answer to "what do you know about me"."""

import logging
from collections.abc import Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import resources
from actions.base import EventList, SafeAction
from actions.clients.customers import ConsentNotRecorded, CustomerClient
from actions.consent import gate_answer, latest_user_event
from actions.outcomes import mask_email
from bot.constants import (
    SLOT_EMAIL,
    SLOT_EMOTION_OPT_OUT,
    SLOT_ORDER_ID,
    SLOT_POSTCODE,
    SLOT_VERIFIED_BY_CODE,
)

logger = logging.getLogger(__name__)


async def record_choice(tracker: Tracker, choice: str, client: CustomerClient) -> bool:
    """Records the choice for the customer on every channel; False if the service did not confirm it."""
    event = latest_user_event(tracker)
    identities = gate_answer(event).identities
    if not identities:
        return False
    try:
        await client.set_emotion_processing(identities, choice, str(event.get("input_channel") or "unknown"))
    except ConsentNotRecorded as error:
        logger.error("consent change for %s not recorded: %s", tracker.sender_id, error)
        return False
    return True


class ActionOptOutEmotion(SafeAction):
    """Stops emotion processing from the next message: here at once, everywhere once recorded."""

    def __init__(self, client: Callable[[], CustomerClient] = resources.customer_client) -> None:
        self._client = client

    def name(self) -> str:
        return "action_opt_out_emotion"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        recorded = await record_choice(tracker, "off", self._client())
        dispatcher.utter_message(response="utter_opted_out" if recorded else "utter_opted_out_here_only")
        return [SlotSet(SLOT_EMOTION_OPT_OUT, True)]


class ActionOptInEmotion(SafeAction):
    def __init__(self, client: Callable[[], CustomerClient] = resources.customer_client) -> None:
        self._client = client

    def name(self) -> str:
        return "action_opt_in_emotion"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        recorded = await record_choice(tracker, "on", self._client())
        dispatcher.utter_message(response="utter_opted_in" if recorded else "utter_opted_in_here_only")
        return [SlotSet(SLOT_EMOTION_OPT_OUT, False)]


class ActionExplainPrivacy(SafeAction):
    """Lists what this conversation holds about the customer, in plain words."""

    def name(self) -> str:
        return "action_explain_privacy"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        known = []
        if tracker.get_slot(SLOT_ORDER_ID):
            known.append(f"the order number you gave ({tracker.get_slot(SLOT_ORDER_ID)})")
        if tracker.get_slot(SLOT_EMAIL):
            known.append(f"your e-mail address ({mask_email(str(tracker.get_slot(SLOT_EMAIL)))})")
        if tracker.get_slot(SLOT_POSTCODE):
            known.append("the postcode you gave for an order")
        if tracker.get_slot(SLOT_VERIFIED_BY_CODE):
            known.append("that you confirmed your account with a code we e-mailed you")
        facts = "; ".join(known) if known else "nothing beyond the messages of this conversation"
        response = (
            "utter_privacy_opted_out" if tracker.get_slot(SLOT_EMOTION_OPT_OUT) else "utter_privacy_opted_in"
        )
        dispatcher.utter_message(response=response, facts=facts)
        return []
