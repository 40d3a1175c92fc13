"""Reads and writes the demo store; returns plain frozen records, never ORM objects.

Actions run on rasa-sdk's event loop, so they call these synchronous methods through
``asyncio.to_thread`` (SQLite answers in well under a millisecond, but a Postgres store would not).
"""

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from actions.sql import open_engine
from actions.store.attempts import AttemptLog
from actions.store.codes import VerificationCodes
from actions.store.mailbox import Mailbox
from actions.store.models import (
    REFUND_PROCESSING,
    SUBSCRIPTION_ACTIVE,
    SUBSCRIPTION_CANCELLED,
    Base,
    Charge,
    Customer,
    Delivery,
    DeliveryStatus,
    Order,
    OrderStatus,
    PasswordReset,
    Refund,
    RefundStatus,
    Subscription,
    SubscriptionStatus,
)
from actions.store.seed import seed_if_empty

logger = logging.getLogger(__name__)

REFUND_DAYS = 5


@dataclass(frozen=True)
class RefundRecord:
    amount_cents: int
    reason: str
    status: RefundStatus
    requested_on: date
    expected_by: date | None
    refunded_on: date | None


@dataclass(frozen=True)
class OrderRecord:
    id: str
    customer_id: int
    customer_email: str
    postcode: str
    placed_on: date
    status: OrderStatus
    items: str
    total_cents: int
    delivery_status: DeliveryStatus | None
    carrier: str | None
    tracking_code: str | None
    eta: date | None
    delivered_on: date | None
    charges_cents: tuple[int, ...]
    refunds: tuple[RefundRecord, ...]


@dataclass(frozen=True)
class SubscriptionRecord:
    id: int
    plan: str
    price_cents: int
    status: SubscriptionStatus
    renews_on: date | None
    cancelled_on: date | None


@dataclass(frozen=True)
class CustomerRecord:
    id: int
    ref: str  # the shop site's customer id (an identity token's ``sub``)
    name: str
    email: str
    phone: str | None
    postcode: str | None
    account_locked: bool
    subscriptions: tuple[SubscriptionRecord, ...]


def same_postcode(a: str | None, b: str | None) -> bool:
    """``pp1 4tr`` and ``PP14TR`` are the same postcode."""
    squash = lambda text: "".join((text or "").split()).upper()  # noqa: E731
    return bool(squash(a)) and squash(a) == squash(b)


def _refund_record(row: Any) -> RefundRecord:
    return RefundRecord(
        amount_cents=row.amount_cents,
        reason=row.reason,
        status=row.status,
        requested_on=row.requested_on,
        expected_by=row.expected_by,
        refunded_on=row.refunded_on,
    )


class DemoStore:
    """The demo store behind one SQLAlchemy engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(bind=engine, future=True, expire_on_commit=False)
        # Proving who a customer is (actions/verification.py): codes, the demo mailbox, rate limits.
        self.codes = VerificationCodes(engine)
        self.mailbox = Mailbox(engine)
        self.attempts = AttemptLog(engine)

    def prepare(self, today: date) -> bool:
        """Creates the tables and seeds them on first run; returns whether it seeded.

        A store made by an older version (its tables lack a column these models have) is demo data:
        its tables are dropped and seeded afresh rather than migrated.
        """
        if self._outdated():
            logger.warning("the demo store's tables are from an older version: seeding them afresh")
            Base.metadata.drop_all(self._engine)
        Base.metadata.create_all(self._engine)
        with self._sessions() as session:
            return seed_if_empty(session, today)

    def _outdated(self) -> bool:
        inspector = inspect(self._engine)
        existing = set(inspector.get_table_names())
        for table in Base.metadata.sorted_tables:
            if table.name in existing:
                columns = {column["name"] for column in inspector.get_columns(table.name)}
                if not {column.name for column in table.columns} <= columns:
                    return True
        return False

    def close(self) -> None:
        self._engine.dispose()

    def find_order(self, order_id: str) -> OrderRecord | None:
        with self._sessions() as session:
            return self._order_record(session, order_id)

    def _order_record(self, session: Session, order_id: str) -> OrderRecord | None:
        order = session.get(Order, order_id)
        if order is None:
            return None
        customer = session.get(Customer, order.customer_id)
        delivery = session.get(Delivery, order_id)
        charges = session.execute(
            select(Charge.amount_cents).where(Charge.order_id == order_id).order_by(Charge.id)
        ).scalars()
        refunds = session.execute(
            select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)
        ).scalars()
        return OrderRecord(
            id=order.id,
            customer_id=customer.id,
            customer_email=customer.email,
            postcode=order.postcode,
            placed_on=order.placed_on,
            status=order.status,
            items=order.items,
            total_cents=order.total_cents,
            delivery_status=delivery.status if delivery else None,
            carrier=delivery.carrier if delivery else None,
            tracking_code=delivery.tracking_code if delivery else None,
            eta=delivery.eta if delivery else None,
            delivered_on=delivery.delivered_on if delivery else None,
            charges_cents=tuple(charges),
            refunds=tuple(_refund_record(row) for row in refunds),
        )

    def find_customer(self, email: str) -> CustomerRecord | None:
        """The customer whose e-mail address is ``email`` (any case), if any."""
        return self._customer_where(Customer.email == email.strip().lower())

    def customer_by_ref(self, ref: str) -> CustomerRecord | None:
        """The customer the shop's site knows as ``ref`` (an identity token's ``sub``)."""
        return self._customer_where(Customer.ref == ref)

    def customer_by_phone(self, phone: str) -> CustomerRecord | None:
        """The customer with ``phone`` (E.164) on file, if exactly one has it."""
        return self._customer_where(Customer.phone == phone)

    def customer_by_id(self, customer_id: int) -> CustomerRecord | None:
        return self._customer_where(Customer.id == customer_id)

    def _customer_where(self, condition: Any) -> CustomerRecord | None:
        with self._sessions() as session:
            found = session.execute(select(Customer).where(condition).limit(2)).scalars().all()
            if len(found) != 1:
                return None
            customer = found[0]
            subscriptions = session.execute(
                select(Subscription).where(Subscription.customer_id == customer.id).order_by(Subscription.id)
            ).scalars()
            return CustomerRecord(
                id=customer.id,
                ref=customer.ref,
                name=customer.name,
                email=customer.email,
                phone=customer.phone,
                postcode=customer.postcode,
                account_locked=customer.account_locked,
                subscriptions=tuple(
                    SubscriptionRecord(
                        id=row.id,
                        plan=row.plan,
                        price_cents=row.price_cents,
                        status=row.status,
                        renews_on=row.renews_on,
                        cancelled_on=row.cancelled_on,
                    )
                    for row in subscriptions
                ),
            )

    def open_refund(self, order_id: str, amount_cents: int, reason: str, today: date) -> RefundRecord:
        """Records a refund the customer is owed (a return, a duplicate charge, a lost parcel)."""
        with self._sessions() as session:
            row = Refund(
                order_id=order_id,
                amount_cents=amount_cents,
                reason=reason,
                status=REFUND_PROCESSING,
                requested_on=today,
                expected_by=today + timedelta(days=REFUND_DAYS),
            )
            session.add(row)
            session.commit()
            return _refund_record(row)

    def cancel_subscription(self, subscription_id: int, today: date) -> None:
        with self._sessions() as session:
            row = session.get(Subscription, subscription_id)
            if row is not None and row.status == SUBSCRIPTION_ACTIVE:
                row.status = SUBSCRIPTION_CANCELLED
                row.cancelled_on = today
                row.renews_on = None
                session.commit()

    def request_password_reset(self, customer_id: int) -> None:
        """Records that a reset link is due; the demo store has no mail server, the record is the proof."""
        with self._sessions() as session:
            session.add(PasswordReset(customer_id=customer_id))
            session.commit()


def open_store(database_url: str) -> DemoStore:
    """An engine for ``database_url``; SQLite files may be used from the action server's threads."""
    engine = open_engine(database_url)
    return DemoStore(engine)
