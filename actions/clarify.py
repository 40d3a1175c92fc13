"""When the bot is not sure what the customer wants: ask one tap, or say honestly what it can do.

``action_clarify_request`` answers a message the NLU could not place with confidence
(``nlu_fallback``, config.yml's FallbackClassifier).  When the message names an order ("wher is my
ordr 10003 pls"), the likely requests are in the intent ranking: the customer gets "Just to check,
did you mean: where is order 10003?" with one button per likely request, each carrying the order
number, so one tap does it.  Without an order number there is nothing to name, and the customer is
asked to say it another way (``utter_default``).

``action_default_fallback`` overrides Rasa's core fallback (what runs when no policy is confident of
the next action).  A "yes" or "no" that answers nothing, such as an old button pressed again after
its question was dealt with, is told so once (``utter_stale_answer``) instead of "I didn't
understand"; anything else gets ``utter_default`` as before.  Like Rasa's own, it reverts the
message, so the stray answer cannot steer what comes next.
"""

import re
from typing import Any, Final

from rasa_sdk import Tracker
from rasa_sdk.events import UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.base import EventList, SafeAction
from bot.constants import (
    AFFIRM,
    BILLING_ISSUE,
    DELIVERY_PROBLEM,
    DENY,
    ENTITY_ORDER_ID,
    ORDER_STATUS,
    ORDER_TOPICS,
    REFUND_STATUS,
    RETURN_OR_REFUND,
)

# Five digits, as the order_id regex in data/nlu/nlu.yml: anything else is not put in a payload.
_ORDER_ID: Final = re.compile(r"\d{5}")
# At most this many likely requests are offered as buttons.
MAX_CHOICES: Final = 2
# What each request is called to the customer, with the order number in it.
REQUEST_WORDS: Final = {
    ORDER_STATUS: "where is order {order_id}",
    DELIVERY_PROBLEM: "a problem with the delivery of order {order_id}",
    RETURN_OR_REFUND: "a return or refund for order {order_id}",
    REFUND_STATUS: "where is my refund for order {order_id}",
    BILLING_ISSUE: "a charge for order {order_id}",
}


def named_order(message: dict[str, Any]) -> str | None:
    """The one order number the message names (entity ``order_id``, five digits), else None."""
    values = {
        str(entity.get("value"))
        for entity in message.get("entities") or []
        if isinstance(entity, dict) and entity.get("entity") == ENTITY_ORDER_ID
    }
    if len(values) != 1:
        return None  # none, or two different orders: naming one would be a guess
    value = values.pop()
    return value if _ORDER_ID.fullmatch(value) else None


def likely_requests(message: dict[str, Any]) -> list[str]:
    """The order requests in the message's intent ranking, most likely first (order status if none)."""
    ranking = message.get("intent_ranking") or []
    names = [str(item.get("name")) for item in ranking if isinstance(item, dict)]
    found = [name for name in names if name in ORDER_TOPICS]
    return found[:MAX_CHOICES] or [ORDER_STATUS]


def choices(order_id: str, requests: list[str]) -> list[dict[str, str]]:
    """One button per request: its words as the title, the intent with the order number as payload."""
    return [
        {
            "title": REQUEST_WORDS[name].format(order_id=order_id).capitalize() + "?",
            "payload": f'/{name}{{"{ENTITY_ORDER_ID}":"{order_id}"}}',
        }
        for name in requests
    ]


class ActionClarifyRequest(SafeAction):
    def name(self) -> str:
        return "action_clarify_request"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        message = tracker.latest_message or {}
        order_id = named_order(message)
        if order_id is None:
            dispatcher.utter_message(response="utter_default")
            return []
        requests = likely_requests(message)
        dispatcher.utter_message(
            response="utter_did_you_mean",
            request=REQUEST_WORDS[requests[0]].format(order_id=order_id),
            buttons=choices(order_id, requests),
        )
        return []


class ActionDefaultFallback(SafeAction):
    """Rasa's core fallback, with a stale yes/no told so instead of "I didn't understand"."""

    def name(self) -> str:
        return "action_default_fallback"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        dispatcher.utter_message(
            response="utter_stale_answer" if intent in (AFFIRM, DENY) else "utter_default"
        )
        return [UserUtteranceReverted()]
