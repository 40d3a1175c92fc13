"""Tables of the handoff service.  Schema changes go through an Alembic migration in migrations/versions/."""

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Column, DateTime, Integer, String, Text
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
