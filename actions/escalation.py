"""The actions an escalation decision leads to (bot/components/escalation_policy.py routes them).

Handing the conversation to an agent for real, and placing the call-back, come with the handoff
and Twilio issues; until then these actions tell the customer honestly what happens and log
the decision with its explanation (also kept in the ``empathy_explanation`` slot).
"""

import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EventList, SafeAction
from bot import constants as c

logger = logging.getLogger(__name__)


def _log_decision(tracker: Tracker, action: str) -> None:
    explanation = tracker.get_slot(c.SLOT_EMPATHY_EXPLANATION) or {}
    logger.info(
        "escalation %s for conversation %s: %s",
        action,
        tracker.sender_id,
        (explanation.get("decision") if isinstance(explanation, dict) else None) or "no explanation recorded",
    )


class ActionOfferHuman(SafeAction):
    def name(self) -> str:
        return "action_offer_human"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        _log_decision(tracker, self.name())
        dispatcher.utter_message(response="utter_offer_human")
        return []


class ActionOfferCallback(SafeAction):
    def name(self) -> str:
        return "action_offer_callback"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        _log_decision(tracker, self.name())
        dispatcher.utter_message(response="utter_offer_callback")
        return []


class ActionHandoff(SafeAction):
    def name(self) -> str:
        return "action_handoff"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        _log_decision(tracker, self.name())
        dispatcher.utter_message(response="utter_human_not_connected")
        return []
