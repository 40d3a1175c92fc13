"""Customers across channels, and their choice about emotion processing.

Linking rule (deterministic, and only on what a trusted source asserts):

- identities presented *together* belong to one customer: the number an SMS/WhatsApp message
  comes from (Twilio verified it), and the customer id a logged-in site passes in the channel
  metadata with that account's verified ``phone`` / ``email``, plus the web session it came in;
- anything a customer merely types (an e-mail in the chat) is never used for linking;
- an anonymous web session is a customer of its own and stays anonymous;
- when identities presented together already belong to different customers, they are merged
  into the oldest one, and the most private choice wins (opted out if either was).

Emotion processing is "on" until the customer turns it off; every change is appended to
``consent_events`` (time, channel, source) and never edited.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handoff.contract import is_id
from handoff.errors import InvalidRequest, NotFound
from handoff.models import EMOTION_PROCESSING, IDENTITY_KINDS, ConsentEvent, Customer, CustomerIdentity

SOURCES = ("conversation", "web_switch", "api")
# A lost race to create an identity is run again (once is enough; a spare for merges).
IDENTITY_RACE_ATTEMPTS = 3
T = TypeVar("T")
MAX_IDENTITIES = 10
MAX_IDENTITY_CHARS = 254
MAX_CHANNEL_CHARS = 40


@dataclass(frozen=True)
class Identity:
    kind: str
    value: str


@dataclass(frozen=True)
class CustomerConsent:
    customer: str
    emotion_processing: str

    def to_dict(self) -> dict[str, str]:
        return {"customer": self.customer, "emotion_processing": self.emotion_processing}


def normalise(kind: str, value: str) -> Identity:
    """The identity in its one canonical form, or InvalidRequest saying what is wrong."""
    if kind not in IDENTITY_KINDS:
        raise InvalidRequest(f"identity kind must be one of {', '.join(IDENTITY_KINDS)}, got {kind[:40]!r}")
    text = value.strip()
    if kind == "phone" and is_id(text, MAX_IDENTITY_CHARS):
        try:
            number = phonenumbers.parse(text.removeprefix("whatsapp:"), None)
        except phonenumbers.NumberParseException as error:
            raise InvalidRequest(f"phone identity must be in E.164 (+441234567890): {error}") from error
        text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    elif kind == "email":
        text = text.lower()
    # Checked after normalising: lower() can lengthen a text ("İ" is two characters in lower case).
    if not is_id(text, MAX_IDENTITY_CHARS):
        raise InvalidRequest(
            f"a {kind} identity must be 1 to {MAX_IDENTITY_CHARS} characters without control characters"
        )
    return Identity(kind, text)


def parse_identities(raw: Any) -> list[Identity]:
    """``[{"kind": "phone", "value": "+44…"}, …]`` from a request body, checked."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_IDENTITIES:
        raise InvalidRequest(
            f'"identities" must be a list of 1 to {MAX_IDENTITIES} {{"kind", "value"}} objects'
        )
    identities = []
    for item in raw:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("kind"), str)
            or not isinstance(item.get("value"), str)
        ):
            raise InvalidRequest('each identity must be {"kind": "...", "value": "..."}')
        identities.append(normalise(item["kind"], item["value"]))
    return list(dict.fromkeys(identities))


def _resolve(session: Session, identities: list[Identity], now: datetime) -> Customer:
    rows = [session.get(CustomerIdentity, (i.kind, i.value)) for i in identities]
    owners = {row.customer_id for row in rows if row is not None}
    customers = sorted((session.get(Customer, owner) for owner in owners), key=lambda c: (c.created_at, c.id))
    customer: Customer
    if customers:
        customer = customers[0]
    else:
        customer = Customer(id="cust-" + uuid.uuid4().hex[:16], emotion_processing="on", created_at=now)
        session.add(customer)
        session.flush()
    for other in customers[1:]:
        # Merge into the oldest: identities and consent history move; the more private choice wins.
        session.execute(
            update(CustomerIdentity)
            .where(CustomerIdentity.customer_id == other.id)
            .values(customer_id=customer.id)
        )
        session.execute(
            update(ConsentEvent).where(ConsentEvent.customer_id == other.id).values(customer_id=customer.id)
        )
        if other.emotion_processing == "off":
            customer.emotion_processing = "off"
        session.delete(other)
    for identity, row in zip(identities, rows, strict=True):
        if row is None:
            session.add(
                CustomerIdentity(
                    kind=identity.kind, value=identity.value, customer_id=customer.id, created_at=now
                )
            )
    session.flush()
    return customer


def _transaction(engine: Engine, work: Callable[[Session], T]) -> T:
    """``work`` in one transaction, again when it lost a race to create the same identity.

    A new customer's first messages can reach two Rasa instances at once, and both consent gates
    ask who the customer is: one insert of the identity wins; the other, run again, finds it.
    """
    for attempt in range(1, IDENTITY_RACE_ATTEMPTS + 1):
        try:
            with Session(engine) as session, session.begin():
                return work(session)
        except IntegrityError:
            if attempt == IDENTITY_RACE_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def resolve(engine: Engine, identities: list[Identity], now: datetime | None = None) -> CustomerConsent:
    """The customer these identities belong to (created or linked as needed), with their choice."""
    moment = now or datetime.now(timezone.utc)

    def work(session: Session) -> CustomerConsent:
        customer = _resolve(session, identities, moment)
        return CustomerConsent(customer.id, customer.emotion_processing)

    return _transaction(engine, work)


def set_emotion_processing(
    engine: Engine,
    identities: list[Identity],
    choice: str,
    channel: str,
    source: str,
    now: datetime | None = None,
) -> CustomerConsent:
    """Records an opt-out ("off") or opt-in ("on") for the customer behind ``identities``."""
    if choice not in EMOTION_PROCESSING:
        raise InvalidRequest('"emotion_processing" must be "on" or "off"')
    if source not in SOURCES:
        raise InvalidRequest(f'"source" must be one of {", ".join(SOURCES)}')
    if not is_id(channel, MAX_CHANNEL_CHARS):
        raise InvalidRequest(
            f'"channel" must be 1 to {MAX_CHANNEL_CHARS} characters without control characters'
        )
    moment = now or datetime.now(timezone.utc)

    def work(session: Session) -> CustomerConsent:
        customer = _resolve(session, identities, moment)
        customer.emotion_processing = choice
        session.add(
            ConsentEvent(
                customer_id=customer.id,
                emotion_processing=choice,
                channel=channel,
                source=source,
                created_at=moment,
            )
        )
        return CustomerConsent(customer.id, choice)

    return _transaction(engine, work)


def consent_log(engine: Engine, customer_id: str) -> list[dict[str, str]]:
    with Session(engine) as session:
        if session.get(Customer, customer_id) is None:
            raise NotFound(f"no customer {customer_id!r}")
        rows = session.execute(
            select(ConsentEvent).where(ConsentEvent.customer_id == customer_id).order_by(ConsentEvent.id)
        ).scalars()
        return [
            {
                "at": row.created_at.isoformat(),
                "emotion_processing": row.emotion_processing,
                "channel": row.channel,
                "source": row.source,
            }
            for row in rows
        ]


def identities_of(engine: Engine, customer_id: str) -> list[Identity]:
    with Session(engine) as session:
        rows = session.execute(
            select(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
        ).scalars()
        return [Identity(row.kind, row.value) for row in rows]
