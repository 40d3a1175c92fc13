"""The customer's say over emotion processing, and a plain answer to "what do you know about me"."""

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EventList, SafeAction
from actions.outcomes import mask_email
from bot import constants as c


class ActionOptOutEmotion(SafeAction):
    def name(self) -> str:
        return "action_opt_out_emotion"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        dispatcher.utter_message(response="utter_opted_out")
        return [SlotSet(c.SLOT_EMOTION_OPT_OUT, True)]


class ActionOptInEmotion(SafeAction):
    def name(self) -> str:
        return "action_opt_in_emotion"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        dispatcher.utter_message(response="utter_opted_in")
        return [SlotSet(c.SLOT_EMOTION_OPT_OUT, False)]


class ActionExplainPrivacy(SafeAction):
    """Lists what this conversation holds about the customer, in plain words."""

    def name(self) -> str:
        return "action_explain_privacy"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        known = []
        if tracker.get_slot(c.SLOT_ORDER_ID):
            known.append(f"the order number you gave ({tracker.get_slot(c.SLOT_ORDER_ID)})")
        if tracker.get_slot(c.SLOT_EMAIL):
            known.append(f"your e-mail address ({mask_email(str(tracker.get_slot(c.SLOT_EMAIL)))})")
        facts = "; ".join(known) if known else "nothing beyond the messages of this conversation"
        response = (
            "utter_privacy_opted_out"
            if tracker.get_slot(c.SLOT_EMOTION_OPT_OUT)
            else "utter_privacy_opted_in"
        )
        dispatcher.utter_message(response=response, facts=facts)
        return []
