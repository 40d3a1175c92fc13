"""Tables of the handoff service.  Schema changes go through an Alembic migration in migrations/versions/."""

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import declarative_base

Base: Any = declarative_base()

HANDOFF_STATUSES = ("queued", "claimed", "resolved")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Handoff(Base):
    """One conversation handed to people: the payload as sent, and where it is in the queue."""

    __tablename__ = "handoffs"

    id = Column(String(36), primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    # The sender's key for this handoff: a retried delivery with the same key is the same handoff.
    idempotency_key = Column(String(128), nullable=False, unique=True)
    status = Column(String(16), nullable=False, default="queued")
    priority = Column(Integer, nullable=False, default=0)
    reason = Column(String(64), nullable=False)
    payload = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=_now, onupdate=_now)


WEBHOOK_STATUSES = ("pending", "delivered", "dead")


class WebhookDelivery(Base):
    """One handoff event to send to one external desk; ``dead`` after the last retry (the dead letters)."""

    __tablename__ = "webhook_deliveries"

    id = Column(String(36), primary_key=True)
    handoff_id = Column(String(36), ForeignKey("handoffs.id"), nullable=False)
    url = Column(String(2000), nullable=False)
    event = Column(String(64), nullable=False)
    status = Column(String(16), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime(timezone=True), nullable=False, default=_now)
    last_error = Column(Text, nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)
    delivered_at = Column(DateTime(timezone=True), nullable=True)
