"""Actions that look things up in the demo store and tell the customer what they found.

Only for a customer who proved the data is theirs (actions/verification.py): an order is shown to
its verified owner, or against its number plus the e-mail address or delivery postcode on it; a
refund, a return, cancelling Pine+ or a reset link needs a verified customer or a one-time code sent
to the e-mail address on file.  Every failed check is an honest failed attempt (the empathy engine
counts ``failed_attempts``), and lookups and failed checks are rate-limited.
"""

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction
from rasa_sdk.types import DomainDict

from actions import account_requests, order_requests, settings
from actions.base import EventList, SafeAction
from actions.outcomes import Outcome, failure_reason
from actions.resources import demo_store
from actions.settings import SelfServiceLimits
from actions.store.attempts import FAILED_CHECK, LOOKUP
from actions.store.gateway import CustomerRecord, DemoStore
from actions.verification import (
    Requester,
    authorised_customer,
    limited,
    limited_outcome,
    may_see,
    proved_slot,
    requester,
    send_code,
    typed_code,
)
from bot.constants import (
    ACCOUNT_TOPICS,
    ORDER_TOPICS,
    SLOT_EMAIL,
    SLOT_FAILED_ATTEMPTS,
    SLOT_LAST_OUTCOME,
    SLOT_ORDER_ID,
    SLOT_PENDING_CANCELLATION,
    SLOT_POSTCODE,
    SLOT_PROBLEM,
    SLOT_SELF_SERVICE_ATTEMPT,
    SLOT_TOPIC,
    SLOT_VERIFICATION_PENDING,
    SLOT_VERIFIED_BY_CODE,
)

logger = logging.getLogger(__name__)

StoreProvider = Callable[[], DemoStore]
LimitsProvider = Callable[[], SelfServiceLimits]
Clock = Callable[[], datetime]
TOPICS = (*ORDER_TOPICS, *ACCOUNT_TOPICS)
FAILURES_BEFORE_HINT = 2
LOOKUP_ERROR = "lookup_error"  # the outcome of a lookup that raised (outcomes.FAILURE_REASONS)


def utc_now() -> datetime:
    """Naive UTC, as the store's DateTime columns hold it (SQLite and Postgres alike)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def current_limits() -> SelfServiceLimits:
    return settings.current().self_service_limits


def latest_topic(tracker: Tracker) -> str | None:
    """The most recent thing the customer asked for that needs a lookup (an order or account intent).

    Read from the customer's messages in the posted tracker, else from the ``topic`` slot the last
    lookup set: in a long conversation Rasa posts only the last turns (the tracker store's rolling
    window, issue 18), and the request may lie before them.
    """
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        intent = (event.get("parse_data") or {}).get("intent", {}).get("name")
        if intent in TOPICS:
            return str(intent)
    remembered = tracker.get_slot(SLOT_TOPIC)
    return str(remembered) if remembered in TOPICS else None


def _failed_attempts(tracker: Tracker) -> int:
    value = tracker.get_slot(SLOT_FAILED_ATTEMPTS)
    return int(value) if isinstance(value, (int, float)) else 0


def _text_slot(tracker: Tracker, name: str) -> str | None:
    value = tracker.get_slot(name)
    return str(value).strip() or None if value else None


@dataclass(frozen=True)
class Request:
    """One self-service request: what is asked, by whom, with which details."""

    topic: str
    who: Requester
    order_id: str | None = None
    email: str | None = None
    postcode: str | None = None
    problem: str | None = None
    code: str | None = None  # a one-time code typed in the latest message

    @classmethod
    def of(cls, tracker: Tracker, topic: str, now: datetime) -> "Request":
        return cls(
            topic=topic,
            who=requester(tracker, now),
            order_id=_text_slot(tracker, SLOT_ORDER_ID),
            email=_text_slot(tracker, SLOT_EMAIL),
            postcode=_text_slot(tracker, SLOT_POSTCODE),
            problem=_text_slot(tracker, SLOT_PROBLEM),
            code=typed_code(tracker),
        )


def _waiting(outcome: Outcome, pending: bool) -> Outcome:
    """``outcome``, saying whether the bot now waits for proof (``verification_pending``)."""
    return dataclasses.replace(outcome, slots={SLOT_VERIFICATION_PENDING: pending, **outcome.slots})


def serve(
    request: Request, store: DemoStore, limits: SelfServiceLimits, today: date, now: datetime
) -> Outcome:
    """The outcome of ``request``: counted, rate-limited, and only for whoever proved the right."""
    if limited(store, request.who, LOOKUP, limits, now):
        return limited_outcome(limits)
    store.attempts.record(request.who.rate_keys(), LOOKUP, now)
    if request.code is not None:
        return _redeem(request, store, limits, today, now)
    return _answer(request, authorised_customer(store, request.who), store, limits, today, now)


def _redeem(
    request: Request, store: DemoStore, limits: SelfServiceLimits, today: date, now: datetime
) -> Outcome:
    """Checks the code typed; right, it proves the customer it was sent to and answers the request."""
    if limited(store, request.who, FAILED_CHECK, limits, now):
        return limited_outcome(limits)
    redeemed = store.codes.redeem(request.who.conversation, request.code or "", now)
    customer = store.customer_by_id(redeemed.customer_id) if redeemed and redeemed.customer_id else None
    if customer is None:
        store.attempts.record(request.who.rate_keys(), FAILED_CHECK, now)
        return _waiting(Outcome("code_wrong", "utter_code_wrong", failed=True), True)
    outcome = _answer(request, customer, store, limits, today, now)
    return dataclasses.replace(
        outcome,
        before=("utter_code_confirmed", *outcome.before),
        slots={**outcome.slots, SLOT_VERIFIED_BY_CODE: proved_slot(customer, now)},
    )


def _answer(
    request: Request,
    customer: CustomerRecord | None,
    store: DemoStore,
    limits: SelfServiceLimits,
    today: date,
    now: datetime,
) -> Outcome:
    if request.topic in ACCOUNT_TOPICS:
        return _account(request, customer, store, limits, now)
    return _order(request, customer, store, limits, today, now)


def _account(
    request: Request,
    customer: CustomerRecord | None,
    store: DemoStore,
    limits: SelfServiceLimits,
    now: datetime,
) -> Outcome:
    """The proved customer's own account; any other address named gets a code, and the same reply
    whether or not it has an account.
    """
    if request.email and (customer is None or customer.email != request.email.lower()):
        if not send_code(store, request.who, store.find_customer(request.email), request.topic, limits, now):
            return limited_outcome(limits)
        sent = Outcome(
            "code_sent", "utter_code_sent_account", variables={"email": request.email}, question=True
        )
        return _waiting(sent, True)
    if customer is None:
        return Outcome("asked_email", "utter_ask_email", question=True)
    return _waiting(account_requests.handle(request.topic, customer, store, now), False)


def _order(
    request: Request,
    customer: CustomerRecord | None,
    store: DemoStore,
    limits: SelfServiceLimits,
    today: date,
    now: datetime,
) -> Outcome:
    """An order its owner, or whoever gave its e-mail or postcode, may see; changed only by its owner.

    Order numbers are sequential, so whether one exists is no secret: an unknown number is said so at
    once.  What is on an order is.
    """
    if not request.order_id:
        return Outcome("asked_order_id", "utter_ask_order_id", question=True)
    order = store.find_order(request.order_id)
    if order is None:
        return order_requests.not_found(request.order_id)
    owner = customer is not None and customer.id == order.customer_id
    if not owner:
        if not (request.email or request.postcode):
            asked = Outcome(
                "asked_order_proof", "utter_ask_order_proof", variables={"order_id": order.id}, question=True
            )
            return _waiting(asked, True)
        if limited(store, request.who, FAILED_CHECK, limits, now):
            return limited_outcome(limits)
        if not may_see(order, None, request.email, request.postcode):
            store.attempts.record(request.who.rate_keys(), FAILED_CHECK, now)
            mismatch = Outcome(
                "order_details_mismatch",
                "utter_order_proof_mismatch",
                failed=True,
                variables={"order_id": order.id},
                slots={SLOT_EMAIL: None, SLOT_POSTCODE: None},
            )
            return _waiting(mismatch, True)
    outcome = order_requests.handle(request.topic, order, request.problem, store, today, may_change=owner)
    if outcome.code == order_requests.CHANGE_NEEDS_CODE:
        if not send_code(
            store, request.who, store.customer_by_id(order.customer_id), request.topic, limits, now
        ):
            return limited_outcome(limits)
        return _waiting(outcome, True)
    return _waiting(outcome, False)


class StoreAction(SafeAction):
    """An action that reads or writes the demo store; store, limits and clocks are injectable for tests."""

    def __init__(
        self,
        store: StoreProvider = demo_store,
        today: Callable[[], date] = date.today,
        now: Clock = utc_now,
        limits: LimitsProvider = current_limits,
    ) -> None:
        self._store = store
        self._today = today
        self._now = now
        self._limits = limits

    def failed(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> EventList:
        """A lookup that broke is, for the customer, a failed attempt: counted like any other, so the
        empathy engine (which reads ``failed_attempts``) sees it and can offer a person.
        """
        return self._tell(
            dispatcher, tracker, Outcome(LOOKUP_ERROR, "utter_something_went_wrong", failed=True)
        )

    def _tell(self, dispatcher: CollectingDispatcher, tracker: Tracker, outcome: Outcome) -> EventList:
        for response in outcome.before:
            dispatcher.utter_message(response=response)
        dispatcher.utter_message(response=outcome.response, **outcome.variables)
        extra: EventList = [SlotSet(name, value) for name, value in outcome.slots.items()]
        if outcome.question:
            return extra  # not an attempt: nothing to log or count
        # Consecutive failures: one success shows self-service works for this customer again.
        failures = _failed_attempts(tracker) + 1 if outcome.failed else 0
        attempt = {
            "asked": (tracker.latest_message or {}).get("text") or "",
            "topic": latest_topic(tracker),
            "tried": f"{self.name()} with "
            + (
                f"order {tracker.get_slot(SLOT_ORDER_ID)}"
                if tracker.get_slot(SLOT_ORDER_ID)
                else "the account e-mail"
            ),
            "outcome": outcome.code,
            "failed": outcome.failed,
            "why": failure_reason(outcome.code) if outcome.failed else "",
        }
        # This attempt only, once: the handoff payload collects them from the conversation's events
        # (a log rewritten in full on every attempt grew the tracker by its square, issue 18).
        events: EventList = [
            SlotSet(SLOT_LAST_OUTCOME, outcome.code),
            *(
                []
                if failures == _failed_attempts(tracker)
                else [SlotSet(SLOT_FAILED_ATTEMPTS, float(failures))]
            ),
            SlotSet(SLOT_SELF_SERVICE_ATTEMPT, attempt),
            *extra,
        ]
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
        if topic is None:
            # A bare order number or e-mail with no request before it: ask what it is for.
            dispatcher.utter_message(
                response="utter_ask_what_for",
                order_id=tracker.get_slot(SLOT_ORDER_ID) or "",
                email=tracker.get_slot(SLOT_EMAIL) or "",
            )
            return []
        now = self._now()
        request = Request.of(tracker, topic, now)
        outcome = await asyncio.to_thread(serve, request, self._store(), self._limits(), self._today(), now)
        return [SlotSet(SLOT_TOPIC, topic), *self._tell(dispatcher, tracker, outcome)]


class ActionConfirmCancellation(StoreAction):
    """Cancels the Pine+ subscription the customer just agreed to cancel: theirs, proved again now."""

    def name(self) -> str:
        return "action_confirm_cancellation"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        who, email, store, today = (
            requester(tracker, self._now()),
            _text_slot(tracker, SLOT_EMAIL),
            self._store(),
            self._today(),
        )

        def confirm() -> Outcome:
            customer = authorised_customer(store, who)
            if customer is None or (email is not None and email.lower() != customer.email):
                return Outcome("not_verified", "utter_cancellation_not_verified", failed=True)
            return account_requests.confirm_cancellation(customer, store, today)

        outcome = await asyncio.to_thread(confirm)
        return [SlotSet(SLOT_PENDING_CANCELLATION, False), *self._tell(dispatcher, tracker, outcome)]


class ActionKeepSubscription(SafeAction):
    """The customer changed their mind: nothing is cancelled."""

    def name(self) -> str:
        return "action_keep_subscription"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        dispatcher.utter_message(response="utter_cancellation_kept")
        return [SlotSet(SLOT_PENDING_CANCELLATION, False)]


class ActionStopVerification(StoreAction):
    """Handles "Never mind" while the bot waited for proof: nothing is looked up or changed, the code in play
    is withdrawn, and (if proof was asked for) it counts as a failed attempt, honestly.
    """

    def name(self) -> str:
        return "action_stop_verification"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        await asyncio.to_thread(self._store().codes.withdraw, tracker.sender_id)
        forget = {SLOT_EMAIL: None, SLOT_POSTCODE: None, SLOT_VERIFICATION_PENDING: False}
        stopped = Outcome("verification_abandoned", "utter_verification_stopped", failed=True, slots=forget)
        if not tracker.get_slot(SLOT_VERIFICATION_PENDING):
            stopped = dataclasses.replace(stopped, question=True)  # nothing was asked of them yet
        return self._tell(dispatcher, tracker, stopped)


class ValidateAccountForm(FormValidationAction):  # type: ignore[misc]  # rasa-sdk is untyped
    """The account form asks for the e-mail address only of a customer who has not proved who they are."""

    def __init__(self, store: StoreProvider = demo_store, now: Clock = utc_now) -> None:
        self._store = store
        self._now = now

    def name(self) -> str:
        return "validate_account_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        try:
            who = requester(tracker, self._now())
            customer = await asyncio.to_thread(authorised_customer, self._store(), who)
        except Exception:
            logger.exception(
                "could not tell who the customer is in %s; asking for the e-mail", tracker.sender_id
            )
            return domain_slots
        return [] if customer is not None else domain_slots
