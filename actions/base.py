"""The one rule every Attune action keeps: no exception escapes ``run``; the customer always gets a reply."""

import abc
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import resources

logger = logging.getLogger(__name__)

EventList = list[dict[str, Any]]


class SafeAction(Action, abc.ABC):
    """Runs ``respond``; on any error logs it and tells the customer plainly instead of going silent."""

    @abc.abstractmethod
    def name(self) -> str: ...

    @abc.abstractmethod
    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        """The action's work; may raise."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        resources.mask_logs()
        try:
            return await self.respond(dispatcher, tracker, domain)
        except Exception:
            logger.exception("action %s failed for conversation %s", self.name(), tracker.sender_id)
            dispatcher.utter_message(response="utter_something_went_wrong")
            return []
