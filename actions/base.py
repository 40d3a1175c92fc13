"""The one rule every Attune action keeps: no exception escapes ``run``; the customer always gets a reply."""

import abc
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import resources

logger = logging.getLogger(__name__)

EventList = list[dict[str, Any]]


def start_over(dispatcher: CollectingDispatcher) -> None:
    """Drops what a failed step had queued to say: none of it has reached the customer yet, and
    half an answer next to an apology could say something untrue.
    """
    dispatcher.messages.clear()


class SafeAction(Action, abc.ABC):
    """Runs ``respond``; on any error logs it and answers with ``failed`` instead of going silent."""

    @abc.abstractmethod
    def name(self) -> str: ...

    @abc.abstractmethod
    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        """The action's work; may raise."""

    def failed(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> EventList:
        """The reply and events when ``respond`` raised: events that keep the dialogue coherent.

        Actions whose failure means something to the conversation (a failed lookup counts as a failed
        attempt; a handoff that may or may not be saved) say so by overriding this.
        """
        dispatcher.utter_message(response="utter_something_went_wrong")
        return []

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        try:
            resources.mask_logs()  # phone numbers are conversation ids on SMS: keep them out of the logs
        except Exception:
            logger.exception("log masking could not be installed")
        try:
            return await self.respond(dispatcher, tracker, domain)
        except Exception:
            logger.exception("action %s failed for conversation %s", self.name(), tracker.sender_id)
        start_over(dispatcher)
        try:
            return self.failed(dispatcher, tracker)
        except Exception:
            logger.exception("action %s could not report its failure; answering plainly", self.name())
            start_over(dispatcher)
            dispatcher.utter_message(response="utter_something_went_wrong")
            return []
