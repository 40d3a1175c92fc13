"""Who the customer in a conversation has proved to be, and how much they may ask for.

Self-service shows an order, or changes an order or account, only for a customer who proved it is
theirs.  A conversation proves a customer by:

- a verified identity token: the Rasa server wrote its claims into ``metadata.attune.verified``
  (bot/components/verified_identity.py); a client cannot write there.  Its id is the customer's
  ``ref`` in the store; else its verified e-mail or phone;
- the number of an SMS/WhatsApp conversation (Twilio signed it: handoff/shared/conversation_ids.py) when it
  is the phone on file: the same proof a code sent by text would give;
- a one-time code sent to the e-mail address on file and typed back here (``verified_by_code``,
  valid ``VERIFIED_FOR``).

Seeing one order also works with its number plus the e-mail address or delivery postcode on it.
Lookups and failed checks are rate-limited per conversation and per client address
(``metadata.attune.client_address``, written by the channels), with limits from actions/settings.py.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from rasa_sdk import Tracker

from actions.consent import METADATA_KEY, latest_user_event
from actions.outcomes import Outcome, mask_email
from actions.settings import SelfServiceLimits
from actions.store.attempts import FAILED_CHECK, Kind
from actions.store.gateway import CustomerRecord, DemoStore, OrderRecord, same_postcode
from bot.constants import ENTITY_VERIFICATION_CODE, SLOT_VERIFIED_BY_CODE
from handoff.shared.conversation_ids import twilio_address

logger = logging.getLogger(__name__)

VERIFIED_FOR: Final = timedelta(minutes=30)
CODE_SUBJECT: Final = "Your Parcelpine code"
CLIENT_ADDRESS_KEY: Final = "client_address"
MAX_CODE_LENGTH: Final = 12


@dataclass(frozen=True)
class Requester:
    """What the server knows about who is asking: never anything the client merely typed."""

    conversation: str
    client_address: str | None = None
    token_id: str | None = None
    token_email: str | None = None
    token_phone: str | None = None
    channel_phone: str | None = None  # the Twilio-verified number of an SMS/WhatsApp conversation
    code_customer: str | None = None  # the ref a one-time code proved, while it holds

    def rate_keys(self) -> list[str]:
        """What rate limits count against."""
        conversation = f"conversation:{self.conversation}"
        return [conversation, f"address:{self.client_address}"] if self.client_address else [conversation]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def epoch(now: datetime) -> float:
    """Seconds since the epoch of a naive UTC time (as the store keeps them)."""
    return now.replace(tzinfo=timezone.utc).timestamp()


def requester(tracker: Tracker, now: datetime) -> Requester:
    attune = _mapping(_mapping(latest_user_event(tracker).get("metadata")).get(METADATA_KEY))
    verified = _mapping(attune.get("verified"))
    proved = _mapping(tracker.get_slot(SLOT_VERIFIED_BY_CODE))
    until = proved.get("until")
    holds = isinstance(until, (int, float)) and until > epoch(now)
    code_customer = _text(proved.get("customer")) if holds else None
    address = twilio_address(tracker.sender_id)
    return Requester(
        conversation=tracker.sender_id,
        client_address=_text(attune.get(CLIENT_ADDRESS_KEY)),
        token_id=_text(verified.get("id")),
        token_email=_text(verified.get("email")),
        token_phone=_text(verified.get("phone")),
        channel_phone=address.removeprefix("whatsapp:") if address else None,
        code_customer=code_customer,
    )


def authorised_customer(store: DemoStore, who: Requester) -> CustomerRecord | None:
    """The store's customer this conversation proved to be, if any."""
    if who.token_id:
        found = store.customer_by_ref(who.token_id)
        if found:
            return found
    if who.token_email:
        found = store.find_customer(who.token_email)
        if found:
            return found
    for phone in (who.token_phone, who.channel_phone):
        found = store.customer_by_phone(phone) if phone else None
        if found:
            return found
    return store.customer_by_ref(who.code_customer) if who.code_customer else None


def may_see(
    order: OrderRecord, customer: CustomerRecord | None, email: str | None, postcode: str | None
) -> bool:
    """The owner may; anyone else needs the e-mail address or delivery postcode on the order."""
    if customer is not None and customer.id == order.customer_id:
        return True
    if email and email.strip().lower() == order.customer_email:
        return True
    return same_postcode(postcode, order.postcode)


def proved_slot(customer: CustomerRecord, now: datetime) -> dict[str, Any]:
    return {"customer": customer.ref, "until": epoch(now + VERIFIED_FOR)}


# --- rate limits ----------------------------------------------------------------------------
def limited(store: DemoStore, who: Requester, kind: Kind, limits: SelfServiceLimits, now: datetime) -> bool:
    """Whether this conversation or its address used up its ``kind`` allowance for the window."""
    since = now - timedelta(seconds=limits.window_seconds)
    per_conversation, per_address = (
        (limits.lookups_per_conversation, limits.lookups_per_address)
        if kind != FAILED_CHECK
        else (limits.failed_checks_per_conversation, limits.failed_checks_per_address)
    )
    for key in who.rate_keys():
        limit = per_address if key.startswith("address:") else per_conversation
        if store.attempts.count(key, kind, since) >= limit:
            logger.warning("self-service %s limit reached for %s", kind, key)
            return True
    return False


def limited_outcome(limits: SelfServiceLimits) -> Outcome:
    minutes = max(1, round(limits.window_seconds / 60))
    return Outcome("rate_limited", "utter_self_service_limited", failed=True, variables={"minutes": minutes})


# --- one-time codes -------------------------------------------------------------------------
def send_code(
    store: DemoStore,
    who: Requester,
    customer: CustomerRecord | None,
    purpose: str,
    limits: SelfServiceLimits,
    now: datetime,
) -> bool:
    """Issues a code for this conversation and e-mails it to ``customer``'s address on file.

    For no customer (an e-mail with no account) a code is issued all the same and sent nowhere, so
    the conversation goes on exactly as it would: the reply never tells whether an account exists.
    A customer is sent at most ``codes_per_window`` codes per window, whoever asks; the rest are
    issued but not sent.  Returns False when this conversation asked for too many codes.
    """
    since = now - timedelta(seconds=limits.window_seconds)
    if store.codes.issued_since(since, conversation=who.conversation) >= limits.codes_per_window:
        return False
    flooded = customer is not None and (
        store.codes.issued_since(since, customer_id=customer.id) >= limits.codes_per_window
    )
    code = store.codes.issue(
        who.conversation, None if flooded or customer is None else customer.id, purpose, now
    )
    if customer is None or flooded:
        return True
    store.mailbox.send(
        customer.email,
        CODE_SUBJECT,
        f"Your Parcelpine code is {code}. Type it in the chat with Pip within 10 minutes. "
        "If you didn't ask for it, you can ignore this e-mail: nothing changes without the code.",
        now,
    )
    # The demo has no mail server: the action server's log shows the code, the address masked.
    logger.info(
        "demo mailbox: code %s e-mailed to %s (python -m actions.store outbox)",
        code,
        mask_email(customer.email),
    )
    return True


def typed_code(tracker: Tracker) -> str | None:
    """The one-time code in the latest message, if it has one (never kept in a slot)."""
    for entity in tracker.latest_message.get("entities") or []:
        if isinstance(entity, dict) and entity.get("entity") == ENTITY_VERIFICATION_CODE:
            value = str(entity.get("value") or "").strip()
            if value.isdigit() and len(value) <= MAX_CODE_LENGTH:
                return value
    return None
