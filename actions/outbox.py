"""A durable outbox for handoffs: written to disk before the first delivery attempt, removed
from the pending list only when the handoff service has confirmed it (and then its payload is
dropped: the service holds it, and a second copy would only be more personal data to govern).

If the service is down or slow, nothing is lost: pending handoffs are retried with exponential
backoff (by ``actions.handoff_delivery``) until the service answers.  The backoff is capped at
``MAX_BACKOFF_SECONDS`` so that a handoff the customer was told is saved reaches the service within
seconds of it answering again, without any other traffic (the flusher runs from start-up).  A
payload the service rejects as invalid (4xx) is kept as ``rejected`` with the reason, for someone
to look at: retrying it would not help.  The idempotency key makes a duplicate delivery harmless.
"""

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Float, Integer, String, Text, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, declarative_base

from actions.sql import open_engine

Base: Any = declarative_base()

PENDING, DELIVERED, REJECTED = "pending", "delivered", "rejected"
FIRST_BACKOFF_SECONDS = 2.0
# Low enough that a saved handoff arrives within ~10 s of the service's return (issue 12: 30 s),
# high enough that a down service sees a handful of calls a minute, not a stream.
MAX_BACKOFF_SECONDS = 10.0


class OutboxRow(Base):
    __tablename__ = "handoff_outbox"

    idempotency_key = Column(String(128), primary_key=True)
    payload = Column(Text, nullable=False)
    status = Column(String(16), nullable=False, default=PENDING, index=True)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(Float, nullable=False)
    last_error = Column(Text, nullable=True)
    created_at = Column(Float, nullable=False)
    delivered_at = Column(Float, nullable=True)


@dataclass(frozen=True)
class OutboxItem:
    key: str
    payload: dict[str, Any]
    attempts: int
    status: str
    last_error: str | None


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failures: 2, 4, 8, then 10 (the cap)."""
    return float(min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Outbox:
    engine: Engine

    @classmethod
    def open(cls, database_url: str) -> "Outbox":
        engine = open_engine(database_url)
        Base.metadata.create_all(engine)
        return cls(engine)

    def put(self, payload: dict[str, Any], now: float | None = None) -> OutboxItem:
        """Stores the payload unless its key is already here; returns the stored item."""
        key = str(payload["idempotency_key"])
        moment = time.time() if now is None else now
        with Session(self.engine) as session, session.begin():
            row = session.get(OutboxRow, key)
            if row is None:
                row = OutboxRow(
                    idempotency_key=key,
                    payload=json.dumps(payload, ensure_ascii=False),
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=moment,
                    created_at=moment,
                )
                session.add(row)
            return _item(row)

    def get(self, key: str) -> OutboxItem | None:
        with Session(self.engine) as session:
            row = session.get(OutboxRow, key)
            return _item(row) if row is not None else None

    def due(self, now: float | None = None, limit: int = 50) -> list[OutboxItem]:
        moment = time.time() if now is None else now
        with Session(self.engine) as session:
            rows = session.execute(
                select(OutboxRow)
                .where(OutboxRow.status == PENDING, OutboxRow.next_attempt_at <= moment)
                .order_by(OutboxRow.created_at)
                .limit(limit)
            ).scalars()
            return [_item(row) for row in rows]

    def pending_count(self) -> int:
        with Session(self.engine) as session:
            return len(
                session.execute(select(OutboxRow.idempotency_key).where(OutboxRow.status == PENDING)).all()
            )

    def delivered(self, key: str, now: float | None = None) -> None:
        # Data minimisation: once the service holds the handoff, the copy here (a transcript, the
        # customer's number for a call-back) is dropped; only the key and the outcome remain.
        self._update(
            key,
            status=DELIVERED,
            delivered_at=time.time() if now is None else now,
            last_error=None,
            payload="{}",
        )

    def rejected(self, key: str, reason: str) -> None:
        self._update(key, status=REJECTED, last_error=reason)

    def failed(self, key: str, error: str, now: float | None = None) -> None:
        moment = time.time() if now is None else now
        with Session(self.engine) as session, session.begin():
            row = session.get(OutboxRow, key)
            if row is None or row.status != PENDING:
                return
            row.attempts += 1
            row.last_error = error
            row.next_attempt_at = moment + backoff(row.attempts)

    def _update(self, key: str, **values: Any) -> None:
        with Session(self.engine) as session, session.begin():
            row = session.get(OutboxRow, key)
            if row is not None:
                for name, value in values.items():
                    setattr(row, name, value)


def _item(row: Any) -> OutboxItem:
    return OutboxItem(row.idempotency_key, json.loads(row.payload), row.attempts, row.status, row.last_error)
