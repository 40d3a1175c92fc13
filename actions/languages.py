"""action_answer_other_language: an honest answer to a message in a language the models do not read.

bot/components/language_detector.py marks such a message (parse data ``language``, ``supported``
false) and gives it the intent ``unsupported_language``; the rules in data/rules/rules.yml run this
action for it.  It says, in the customer's language where domain.yml has the words
(``utter_other_language_<code>``, the languages in ``TRANSLATED``) and in English, what the bot can
still do; then it uses what needs no language: an order number, an e-mail address or a postcode in
the message is looked up as ``action_lookup`` would (the customer's latest request, else the
order's status), with the same proof of who may see what.  From the second such message in a
session it offers a person (yes/no; the rules hand off on yes).  No emotion is read from such a
message (bot/components/emotion_classifier.py, actions/empathy_tracking.py).

The rules also run it for the details the customer gives after it (an e-mail address, a postcode,
an order number, read by the NLU as ``inform``), so the lookup goes on without an intent to name it.
"""

import asyncio
from typing import Any, Final

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EventList
from actions.consent import latest_user_event
from actions.self_service import Request, StoreAction, latest_topic, serve
from bot.constants import (
    ENTITY_EMAIL,
    ENTITY_ORDER_ID,
    ENTITY_POSTCODE,
    ENTITY_VERIFICATION_CODE,
    ORDER_STATUS,
    PARSE_LANGUAGE,
    SLOT_ORDER_ID,
    SLOT_TOPIC,
    UNSUPPORTED_LANGUAGE,
)

# Languages domain.yml has the honest answer and the offer of a person in (besides English).
TRANSLATED: Final = ("es", "de", "fr", "it", "pt", "nl", "pl")
# The customer persists: from this many messages in a language the bot does not read, offer a person.
OFFER_PERSON_FROM: Final = 2
HONEST_ANSWER: Final = "utter_other_language"
OFFER_PERSON: Final = "utter_other_language_offer_human"
# Entities that need no language to be used: they can still be looked up.
USABLE_ENTITIES: Final = frozenset({ENTITY_ORDER_ID, ENTITY_EMAIL, ENTITY_POSTCODE, ENTITY_VERIFICATION_CODE})


def unread_language(event: dict[str, Any]) -> str | None:
    """The language code of a user event the models do not read (its parse data), else None."""
    reading = (event.get("parse_data") or {}).get(PARSE_LANGUAGE)
    if isinstance(reading, dict) and reading.get("supported") is False:
        return str(reading.get("code") or "und")
    return None


def unread_messages(tracker: Tracker) -> int:
    """How many of the customer's messages in this session were in a language the bot does not read."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            break
        if event.get("event") == "user" and unread_language(event) is not None:
            count += 1
    return count


def localised(response: str, language: str, domain: dict[str, Any]) -> str:
    """``response`` in ``language`` (with English) when domain.yml has it, else the English one."""
    translated = f"{response}_{language}"
    responses = domain.get("responses") or {}
    return translated if language in TRANSLATED and translated in responses else response


def _usable_details(event: dict[str, Any]) -> bool:
    entities = (event.get("parse_data") or {}).get("entities") or []
    return any(isinstance(e, dict) and e.get("entity") in USABLE_ENTITIES for e in entities)


class ActionAnswerOtherLanguage(StoreAction):
    """Says honestly what the bot can do, looks up the language-independent details, offers a person."""

    def name(self) -> str:
        return "action_answer_other_language"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        latest = latest_user_event(tracker)
        language = unread_language(latest)
        intent = ((latest.get("parse_data") or {}).get("intent") or {}).get("name")
        if language is not None:
            dispatcher.utter_message(response=localised(HONEST_ANSWER, language, domain))
        elif intent == UNSUPPORTED_LANGUAGE:
            # The classifier, not the detector, took it for another language: say so in English.
            dispatcher.utter_message(response=HONEST_ANSWER)
        events = await self._look_up(dispatcher, tracker, latest)
        if language is not None and unread_messages(tracker) >= OFFER_PERSON_FROM:
            dispatcher.utter_message(response=localised(OFFER_PERSON, language, domain))
        if not dispatcher.messages:
            # Details after the honest answer that name nothing to look up: ask, never go silent.
            dispatcher.utter_message(response="utter_ask_what_for")
        return events

    async def _look_up(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, latest: dict[str, Any]
    ) -> EventList:
        """What ``action_lookup`` would answer for the details in the latest message, if any."""
        if not _usable_details(latest):
            return []
        topic = latest_topic(tracker) or (ORDER_STATUS if tracker.get_slot(SLOT_ORDER_ID) else None)
        if topic is None:
            return []  # an e-mail address alone, and no request to use it for: nothing to look up
        now = self._now()
        request = Request.of(tracker, topic, now)
        outcome = await asyncio.to_thread(serve, request, self._store(), self._limits(), self._today(), now)
        return [SlotSet(SLOT_TOPIC, topic), *self._tell(dispatcher, tracker, outcome)]
