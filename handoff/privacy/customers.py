"""Customers across channels, and their choice about emotion processing.

Linking rule (deterministic, and only on what was verified; nothing a client asserts links):

- identities presented *together* by an authenticated caller (the Rasa server and the action
  server, with ATTUNE_HANDOFF_API_TOKEN) belong to one customer.  They send only what is proven:
  the number an SMS/WhatsApp message comes from (Twilio verified it), the claims of a valid
  identity token a site signed (customer id, verified ``phone`` / ``email``), and the conversation
  of a server-issued web chat session (``session`` ``web:<session>``);
- a REST sender (``session`` ``rest:<sender>``) is chosen by the client, so it is never linked to
  anything else: presented with another identity it is refused (400);
- anything a customer merely types (an e-mail in the chat) is never used for linking;
- an anonymous session is a customer of its own and stays anonymous;
- when identities presented together already belong to different customers, they are merged
  into the oldest one and the most private choice wins (opted out if either was).  Only an
  authenticated caller can cause a merge (with no API token configured the API is open, and such a
  request is refused, 409); each merge is recorded and can be undone (handoff/privacy/customer_merges.py);
- the web chat's switch (/chat/consent) speaks for one signed session only: it can look up or set
  that session's choice, never link or merge anything.

Emotion processing is "on" until the customer turns it off; every change is appended to
``consent_events`` (time, channel, source) and never edited.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handoff.core.models import EMOTION_PROCESSING, IDENTITY_KINDS, ConsentEvent, Customer, CustomerIdentity
from handoff.privacy import consent_epoch, customer_merges, merge_events
from handoff.shared.conversation_ids import REST
from handoff.shared.errors import Conflict, InvalidRequest, NotFound
from handoff.shared.payload_contract import is_id
from handoff.shared.phone_numbers import NotAPhoneNumber, to_e164

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
    customer: str | None  # None: nobody known yet (the default choice applies)
    emotion_processing: str

    def to_dict(self) -> dict[str, str | None]:
        return {"customer": self.customer, "emotion_processing": self.emotion_processing}


def normalise(kind: str, value: str) -> Identity:
    """The identity in its one canonical form, or InvalidRequest saying what is wrong."""
    if kind not in IDENTITY_KINDS:
        raise InvalidRequest(f"identity kind must be one of {', '.join(IDENTITY_KINDS)}, got {kind[:40]!r}")
    text = value.strip()
    if kind == "phone" and is_id(text, MAX_IDENTITY_CHARS):
        try:
            text = to_e164(text, None, require_valid=False)
        except NotAPhoneNumber as error:
            raise InvalidRequest(f"phone identity must be in E.164 (+441234567890): {error}") from error
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


@dataclass(frozen=True)
class Linking:
    """Who is asking: whether they may merge two known customers, and which API (for the record)."""

    may_merge: bool
    source: str = "resolve"


def check_linkable(identities: list[Identity]) -> None:
    """A client-chosen REST sender is a customer of its own: it never links to another identity."""
    if len(identities) > 1 and any(i.kind == "session" and i.value.startswith(REST) for i in identities):
        raise InvalidRequest(
            "a REST conversation (session rest:...) is named by the client and is never linked to "
            "other identities; send it alone"
        )


def _resolve(
    session: Session, identities: list[Identity], now: datetime, linking: Linking, merges: list[Any]
) -> Customer:
    rows = [session.get(CustomerIdentity, (i.kind, i.value)) for i in identities]
    owners = {row.customer_id for row in rows if row is not None}
    customers = sorted((session.get(Customer, owner) for owner in owners), key=lambda c: (c.created_at, c.id))
    if len(customers) > 1 and not linking.may_merge:
        raise Conflict(
            "these identities belong to different customers; only an authenticated caller "
            "(ATTUNE_HANDOFF_API_TOKEN) may merge customers"
        )
    customer: Customer
    if customers:
        customer = customers[0]
    else:
        customer = Customer(id="cust-" + uuid.uuid4().hex[:16], emotion_processing="on", created_at=now)
        session.add(customer)
        session.flush()
    for other in customers[1:]:
        merges.append(customer_merges.merge(session, customer, other, linking.source, now))
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


def _record_merges(engine: Engine, merges: list[customer_merges.Merge]) -> None:
    for merge in merges:  # after the commit: the audit log only says what happened
        merge_events.customers_merged(engine, merge)


def resolve(
    engine: Engine, identities: list[Identity], linking: Linking, now: datetime | None = None
) -> CustomerConsent:
    """The customer these identities belong to (created, linked or merged as needed), with their choice."""
    return resolve_current(engine, identities, linking, now)[0]


def resolve_current(
    engine: Engine, identities: list[Identity], linking: Linking, now: datetime | None = None
) -> tuple[CustomerConsent, str]:
    """``resolve``, with the consent epoch the answer is current for (consent_epoch.py)."""
    check_linkable(identities)
    moment = now or datetime.now(timezone.utc)
    merges: list[customer_merges.Merge] = []

    def work(session: Session) -> tuple[CustomerConsent, str]:
        merges.clear()  # a retried transaction starts again
        # The epoch first, then the customer: a change committed in between makes the stamp older
        # than the answer (revalidated once more), never newer (consent_epoch.py).
        epoch = consent_epoch.current(session)
        customer = _resolve(session, identities, moment, linking, merges)
        return CustomerConsent(customer.id, customer.emotion_processing), epoch

    found = _transaction(engine, work)
    _record_merges(engine, merges)
    return found


def lookup(engine: Engine, identity: Identity) -> CustomerConsent:
    """The choice of whoever ``identity`` is, creating nothing: "on" and no customer when unknown."""
    with Session(engine) as session:
        row = session.get(CustomerIdentity, (identity.kind, identity.value))
        customer = session.get(Customer, row.customer_id) if row is not None else None
        if customer is None:
            return CustomerConsent(None, "on")
        return CustomerConsent(customer.id, customer.emotion_processing)


def set_emotion_processing(
    engine: Engine,
    identities: list[Identity],
    choice: str,
    channel: str,
    source: str,
    linking: Linking,
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
    check_linkable(identities)
    moment = now or datetime.now(timezone.utc)
    merges: list[customer_merges.Merge] = []

    def work(session: Session) -> CustomerConsent:
        merges.clear()
        customer = _resolve(session, identities, moment, linking, merges)
        customer.emotion_processing = choice
        consent_epoch.bump(session, moment)  # every Rasa instance asks again from the next message
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

    changed = _transaction(engine, work)
    _record_merges(engine, merges)
    return changed


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
