"""The call-back conversation: which number, when, and the customer's consent; then the request.

``callback_form`` (domain.yml) starts when the customer accepts an offered call-back or asks for
one.  It asks three things, each of which the customer may decline (then no call is booked):

1. the number: in an SMS/WhatsApp conversation (``sms:``/``whatsapp:``, a number Twilio verified)
   the one they are writing from, confirmed; otherwise typed and checked (phonenumbers, E.164);
2. when: "now" if the team is open and it is not quiet hours where the customer is, or one of the
   next windows (actions/callback_hours.py, configured in policy/business_hours.yml);
3. consent to be called on that number about this conversation, recorded with its time.

``action_request_callback`` then sends the handoff with the call-back attached (priority at least
high); the handoff service stores the call job and places the call (handoff/callbacks/call_jobs.py).
"""

import hashlib
import logging
import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions import resources
from actions.base import EventList, SafeAction, start_over
from actions.callback_hours import Option, choose, customer_zone, options
from actions.clients.handoff import CALLBACK_RATE_LIMITED
from actions.escalation import HandoffSender
from actions.handoff_delivery import DELIVERED, FAILED, QUEUED
from actions.handoff_payload import build_payload
from bot.constants import (
    AFFIRM,
    DECLINED,
    DENY,
    REQUEST_HUMAN,
    SLOT_CALLBACK_CONSENT,
    SLOT_CALLBACK_OPTIONS,
    SLOT_CALLBACK_PHONE,
    SLOT_CALLBACK_STATUS,
    SLOT_CALLBACK_TIME,
    SLOT_HANDOFF_STATUS,
    SLOT_REQUESTED,
)
from handoff.shared.conversation_ids import twilio_address
from handoff.shared.phone_numbers import find_phone_number, mask_phone

logger = logging.getLogger(__name__)

FORM_SLOTS = (SLOT_CALLBACK_PHONE, SLOT_CALLBACK_TIME, SLOT_CALLBACK_CONSENT)
DECLINE_WORDS = ("never mind", "nevermind", "forget it", "don't call", "do not call", "no call")
# "…, just get me a person": asking for a person instead of the call, at any step of the form.
_PERSON = re.compile(
    r"\b((a|real|actual|live) (person|human)|human( being)?|agent|representative|operator|"
    r"(talk|speak|chat) (to|with) (a |an )?(person|someone|somebody|agent)|"
    r"someone (here|in (this|the) chat))\b",
    re.IGNORECASE,
)


def channel_number(tracker: Tracker) -> str | None:
    """The customer's own number when the conversation is an SMS/WhatsApp one, else None.

    Only the conversation id says so (handoff/shared/conversation_ids.py): ``sms:``/``whatsapp:`` ids are
    made by the Twilio channel from the number Twilio verified.  A REST client may name itself
    ``+44…`` (its conversation is ``rest:+44…``) or write "twilio" as its channel: neither is a
    number anyone proved to own, so it is never offered a call to it.
    """
    address = twilio_address(tracker.sender_id)
    if address is None:
        return None
    return find_phone_number(address, resources.callback_hours().default_region)


def _intent(tracker: Tracker) -> str | None:
    return (tracker.latest_message.get("intent") or {}).get("name")


def _declines(tracker: Tracker, text: str) -> bool:
    return _intent(tracker) == DENY or any(word in text.lower() for word in DECLINE_WORDS)


def asks_for_person(tracker: Tracker) -> bool:
    """The customer's latest message asks for a person (the intent, or the words in a "no" to the call)."""
    message = tracker.latest_message or {}
    return _intent(tracker) == REQUEST_HUMAN or bool(_PERSON.search(str(message.get("text") or "")[:2000]))


def _decline_all() -> dict[str, Any]:
    return {slot: DECLINED for slot in FORM_SLOTS}


def chosen_option(tracker: Tracker) -> Option | None:
    value = tracker.get_slot(SLOT_CALLBACK_TIME)
    return Option.from_slot(value) if isinstance(value, dict) else None


class ValidateCallbackForm(FormValidationAction):
    def name(self) -> str:
        return "validate_callback_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> EventList:
        """rasa-sdk's validation; if it raises, the answer is not taken and the form asks again."""
        try:
            return list(await super().run(dispatcher, tracker, domain))
        except Exception:
            logger.exception("call-back form validation failed for conversation %s", tracker.sender_id)
        start_over(dispatcher)
        dispatcher.utter_message(response="utter_something_went_wrong")
        # The unchecked text Rasa extracted for the requested slot must not stand as an answer.
        requested = tracker.get_slot(SLOT_REQUESTED)
        return [SlotSet(requested, None)] if requested in FORM_SLOTS else []

    async def validate_callback_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        number = find_phone_number(text, resources.callback_hours().default_region)
        if number:
            return {SLOT_CALLBACK_PHONE: number}
        own = channel_number(tracker)
        if own and _intent(tracker) == AFFIRM:
            return {SLOT_CALLBACK_PHONE: own}
        if _declines(tracker, text) or asks_for_person(tracker):
            return _decline_all()
        dispatcher.utter_message(response="utter_callback_bad_number")
        return {SLOT_CALLBACK_PHONE: None}

    async def validate_callback_time(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        offered = [Option.from_slot(o) for o in tracker.get_slot(SLOT_CALLBACK_OPTIONS) or []]
        option = choose(offered, text)
        if option is not None:
            return {SLOT_CALLBACK_TIME: option.as_slot()}
        if _declines(tracker, text) or asks_for_person(tracker):
            return _decline_all()
        number = find_phone_number(text, resources.callback_hours().default_region)
        if number:
            # A change of mind about the number: take it, and ask for the time again (its zone may differ).
            return {SLOT_CALLBACK_PHONE: number, SLOT_CALLBACK_TIME: None}
        dispatcher.utter_message(response="utter_callback_pick_again")
        return {SLOT_CALLBACK_TIME: None}

    async def validate_callback_consent(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if _intent(tracker) == AFFIRM:
            # Consent is the time the customer said yes to this number and this time.
            return {SLOT_CALLBACK_CONSENT: datetime.now(timezone.utc).isoformat(timespec="seconds")}
        text = str(value or "")
        if _declines(tracker, text) or asks_for_person(tracker):
            return _decline_all()
        number = find_phone_number(text, resources.callback_hours().default_region)
        if number:
            # "Actually, call 07700 900123 instead": the new number is confirmed before anyone calls it.
            return {SLOT_CALLBACK_PHONE: number, SLOT_CALLBACK_CONSENT: None}
        dispatcher.utter_message(response="utter_callback_yes_or_no")
        return {SLOT_CALLBACK_CONSENT: None}


class ActionAskCallbackPhone(SafeAction):
    def name(self) -> str:
        return "action_ask_callback_phone"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        own = channel_number(tracker)
        if own:
            dispatcher.utter_message(response="utter_callback_confirm_own_number", number=mask_phone(own))
        else:
            dispatcher.utter_message(response="utter_callback_ask_number")
        return []


class ActionAskCallbackTime(SafeAction):
    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self._clock = clock

    def name(self) -> str:
        return "action_ask_callback_time"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        hours = resources.callback_hours()
        number = str(tracker.get_slot(SLOT_CALLBACK_PHONE) or "")
        offered = options(hours, customer_zone(number, hours.timezone), self._clock())
        if not offered:
            dispatcher.utter_message(response="utter_callback_no_times")
            return [SlotSet(slot, DECLINED) for slot in FORM_SLOTS]
        buttons = [{"title": o.label, "payload": o.label} for o in offered]
        now_offered = offered[0].start is None
        dispatcher.utter_message(
            response="utter_callback_ask_time" if now_offered else "utter_callback_ask_time_later",
            buttons=buttons,
        )
        return [SlotSet(SLOT_CALLBACK_OPTIONS, [o.as_slot() for o in offered])]


class ActionAskCallbackConsent(SafeAction):
    def name(self) -> str:
        return "action_ask_callback_consent"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        option = chosen_option(tracker)
        dispatcher.utter_message(
            response="utter_callback_confirm",
            number=mask_phone(str(tracker.get_slot(SLOT_CALLBACK_PHONE) or "")),
            when=option.when if option else Option.when,
            buttons=[{"title": "Yes, call me", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}],
        )
        return []


def callback_payload(tracker: Tracker) -> dict[str, Any]:
    """The handoff payload with the agreed call-back attached (number, consent time, window)."""
    payload: dict[str, Any] = dict(build_payload(tracker))
    phone = str(tracker.get_slot(SLOT_CALLBACK_PHONE))
    consent_at = str(tracker.get_slot(SLOT_CALLBACK_CONSENT))
    option = chosen_option(tracker)
    hours = resources.callback_hours()
    window = (
        {"start": option.start.isoformat(), "end": option.end.isoformat(), "label": option.label}
        if option and option.start and option.end
        else None
    )
    payload["callback"] = {
        "requested": True,
        "phone_masked": mask_phone(phone),
        "phone": phone,
        "consent_at": consent_at,
        "window": window,
        "timezone": customer_zone(phone, hours.timezone).key,
    }
    if payload["priority"] == "normal":
        payload["priority"] = "high"  # someone agreed to be phoned: it does not wait behind chats
    # One booking, one handoff: a retried delivery of this booking has the same key.
    source = f"{tracker.sender_id}|callback|{consent_at}"
    payload["idempotency_key"] = hashlib.sha256(source.encode()).hexdigest()[:40]
    return payload


def _reset() -> EventList:
    """The form's answers, cleared once the request is made (or declined, or failed)."""
    return [SlotSet(slot, None) for slot in (*FORM_SLOTS, SLOT_CALLBACK_OPTIONS)]


class ActionRequestCallback(HandoffSender):
    """Sends the handoff with the call-back; tells the customer what will happen, honestly."""

    def name(self) -> str:
        return "action_request_callback"

    def failed(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> EventList:
        # What can raise comes before sending (the hours file, building the request); sending never
        # raises and what follows it only picks the reply: so nothing was saved or sent.
        dispatcher.utter_message(response="utter_callback_failed")
        return [*_reset(), SlotSet(SLOT_HANDOFF_STATUS, FAILED), SlotSet(SLOT_CALLBACK_STATUS, FAILED)]

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        reset = _reset()
        if any(tracker.get_slot(slot) == DECLINED for slot in FORM_SLOTS):
            if asks_for_person(tracker):
                # "No, don't call me, get me a person": no call, and the person they asked for.
                return [
                    *reset,
                    SlotSet(SLOT_CALLBACK_STATUS, DECLINED),
                    *await self.hand_off(dispatcher, tracker),
                ]
            dispatcher.utter_message(response="utter_callback_declined")
            return [*reset, SlotSet(SLOT_CALLBACK_STATUS, DECLINED)]
        payload = callback_payload(tracker)
        result = await self.send("callback", payload)
        status = result.callback_status or result.status
        logger.info("call-back %s for %s: %s", payload["idempotency_key"], tracker.sender_id, status)
        option = chosen_option(tracker)
        number = payload["callback"]["phone_masked"]
        if result.status == DELIVERED and result.callback_status == CALLBACK_RATE_LIMITED:
            dispatcher.utter_message(response="utter_callback_limit")
        elif result.status == DELIVERED and option and option.start:
            dispatcher.utter_message(response="utter_callback_booked", number=number, when=option.when)
        elif result.status == DELIVERED:
            dispatcher.utter_message(response="utter_callback_now", number=number)
        elif result.status == QUEUED:
            dispatcher.utter_message(response="utter_callback_delayed")
        else:
            dispatcher.utter_message(response="utter_callback_failed")
        return [
            *reset,
            SlotSet(SLOT_HANDOFF_STATUS, result.status),
            SlotSet(SLOT_CALLBACK_STATUS, status),
        ]
