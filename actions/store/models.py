"""Tables of Parcelpine's demo store: the back office the bot's self-service looks things up in.

A stand-in for a retailer's real order, payment and subscription systems.  The data is seeded
by ``actions.store.seed`` with clearly fake customers (``@example.com``) and orders.
"""

from datetime import datetime
from typing import Any, Final, Literal, get_args

from sqlalchemy import Boolean, Column, Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import declarative_base

# Typed as Any: SQLAlchemy 1.4 ships no stubs we use, and strict mypy cannot see through it.
Base: Any = declarative_base()

# The states of the store's records, as stored.  An order's own state is not where its parcel is:
# an order "delivered" and a delivery "delivered" are two domains that share a word.
OrderStatus = Literal["processing", "shipped", "delivered", "cancelled"]
ORDER_PROCESSING: Final[OrderStatus] = "processing"
ORDER_SHIPPED: Final[OrderStatus] = "shipped"
ORDER_DELIVERED: Final[OrderStatus] = "delivered"
ORDER_CANCELLED: Final[OrderStatus] = "cancelled"
ORDER_STATUSES: Final[tuple[OrderStatus, ...]] = get_args(OrderStatus)

# Where the parcel is, as the carrier reports it.
DeliveryStatus = Literal["preparing", "in_transit", "delayed", "delivered", "lost"]
DELIVERY_PREPARING: Final[DeliveryStatus] = "preparing"
DELIVERY_IN_TRANSIT: Final[DeliveryStatus] = "in_transit"
DELIVERY_DELAYED: Final[DeliveryStatus] = "delayed"
DELIVERY_DELIVERED: Final[DeliveryStatus] = "delivered"
DELIVERY_LOST: Final[DeliveryStatus] = "lost"
DELIVERY_STATUSES: Final[tuple[DeliveryStatus, ...]] = get_args(DeliveryStatus)

RefundStatus = Literal["processing", "refunded", "rejected"]
REFUND_PROCESSING: Final[RefundStatus] = "processing"
REFUND_REFUNDED: Final[RefundStatus] = "refunded"
REFUND_REJECTED: Final[RefundStatus] = "rejected"
REFUND_STATUSES: Final[tuple[RefundStatus, ...]] = get_args(RefundStatus)

SubscriptionStatus = Literal["active", "cancelled"]
SUBSCRIPTION_ACTIVE: Final[SubscriptionStatus] = "active"
SUBSCRIPTION_CANCELLED: Final[SubscriptionStatus] = "cancelled"
SUBSCRIPTION_STATUSES: Final[tuple[SubscriptionStatus, ...]] = get_args(SubscriptionStatus)


class Customer(Base):
    __tablename__ = "customers"

    id = Column(Integer, primary_key=True)
    name = Column(String(80), nullable=False)
    email = Column(String(254), nullable=False, unique=True)
    account_locked = Column(Boolean, nullable=False, default=False)
    # The id the shop's site knows the customer by: the ``sub`` of its identity tokens (C-1001).
    ref = Column(String(40), nullable=False, unique=True)
    phone = Column(String(20), nullable=True)  # E.164, as on file
    postcode = Column(String(10), nullable=True)  # the customer's address


class Order(Base):
    __tablename__ = "orders"

    # Five digits, as printed on Parcelpine's confirmation e-mails.
    id = Column(String(5), primary_key=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False)
    placed_on = Column(Date, nullable=False)
    status = Column(String(20), nullable=False)  # OrderStatus
    items = Column(String(200), nullable=False)
    total_cents = Column(Integer, nullable=False)
    postcode = Column(String(10), nullable=False)  # the delivery address's, as on the order


class Delivery(Base):
    __tablename__ = "deliveries"

    order_id = Column(String(5), ForeignKey("orders.id"), primary_key=True)
    carrier = Column(String(40), nullable=False)
    tracking_code = Column(String(40), nullable=False)
    status = Column(String(20), nullable=False)  # DeliveryStatus
    eta = Column(Date, nullable=True)
    delivered_on = Column(Date, nullable=True)


class Charge(Base):
    __tablename__ = "charges"

    id = Column(Integer, primary_key=True)
    order_id = Column(String(5), ForeignKey("orders.id"), nullable=False)
    amount_cents = Column(Integer, nullable=False)
    charged_on = Column(Date, nullable=False)


class Refund(Base):
    __tablename__ = "refunds"

    id = Column(Integer, primary_key=True)
    order_id = Column(String(5), ForeignKey("orders.id"), nullable=False)
    amount_cents = Column(Integer, nullable=False)
    reason = Column(String(40), nullable=False)  # return | duplicate_charge | damaged | lost
    status = Column(String(20), nullable=False)  # RefundStatus
    requested_on = Column(Date, nullable=False)
    expected_by = Column(Date, nullable=True)
    refunded_on = Column(Date, nullable=True)


class Subscription(Base):
    __tablename__ = "subscriptions"

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False)
    plan = Column(String(40), nullable=False)
    price_cents = Column(Integer, nullable=False)
    status = Column(String(20), nullable=False)  # SubscriptionStatus
    renews_on = Column(Date, nullable=True)
    cancelled_on = Column(Date, nullable=True)


class PasswordReset(Base):
    __tablename__ = "password_resets"

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False)
    requested_at = Column(DateTime, nullable=False, default=datetime.utcnow)


class VerificationCode(Base):
    """A one-time code sent to a customer's contact on file, to prove a conversation is theirs.

    Only a salted hash is kept.  ``customer_id`` is None for a code "sent" for an e-mail with no
    account: nothing is sent, but the conversation is answered and checked exactly the same way.
    """

    __tablename__ = "verification_codes"
    __table_args__ = (Index("ix_verification_codes_conversation", "conversation_id", "status"),)

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(300), nullable=False)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=True)
    purpose = Column(String(40), nullable=False)  # the request it unlocks (cancel_subscription, ...)
    salt = Column(String(32), nullable=False)
    code_hash = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False, index=True)
    expires_at = Column(DateTime, nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    status = Column(String(10), nullable=False)  # actions/store/codes.py CodeStatus


class OutboundMessage(Base):
    """The demo mailbox: what would have been e-mailed to a customer (there is no mail server)."""

    __tablename__ = "outbound_messages"

    id = Column(Integer, primary_key=True)
    channel = Column(String(10), nullable=False)  # email
    address = Column(String(254), nullable=False, index=True)
    subject = Column(String(200), nullable=False)
    body = Column(String(2000), nullable=False)
    created_at = Column(DateTime, nullable=False, index=True)


class SelfServiceEvent(Base):
    """One lookup or failed check, counted against its conversation and client address (rate limits)."""

    __tablename__ = "self_service_events"
    __table_args__ = (Index("ix_self_service_events_key", "key", "kind", "at"),)

    id = Column(Integer, primary_key=True)
    key = Column(String(300), nullable=False)  # conversation:<id> | address:<ip>
    kind = Column(String(20), nullable=False)  # lookup | failed_check
    at = Column(DateTime, nullable=False, index=True)
