"""Erased conversations (``analytics_erased``, migration 0025): what stops queued events bringing them back.

An erasure deletes a customer's analytics rows and the SQL broker's copies of their events, but
events still on their way are out of its reach: queued in RabbitMQ while the consumer was down, or
resent by Rasa's Pika broker from memory after an outage.  So the erasure ``record``s each
conversation it erased, in its own transaction, and ingestion drops an event of one of them dated at
or before ``erased_at`` (``erased_at``, one query per batch).  A customer who comes back later (the
same SMS number) is ingested again from then on.

Rows hold the SHA-256 of the conversation id, never the id: an SMS conversation's id is a phone
number.  Retention (``purge``) deletes rows older than the transcript period: an event older than
that which still arrived would be purged with its conversation by the next purge anyway.
"""

import hashlib
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Final

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from handoff.core.db import as_utc
from handoff.core.models import AnalyticsErased

# Hashes per lookup (SQLite's bound-parameter limit is far above; a batch is 500 events by default).
CHUNK: Final = 500


def conversation_hash(conversation_id: str) -> str:
    """The key a conversation is stored under: SHA-256 (hex) of its id."""
    return hashlib.sha256(conversation_id.encode("utf-8")).hexdigest()


def record(session: Session, conversations: Iterable[str], now: datetime | None = None) -> int:
    """Marks these conversations erased at ``now`` (in the caller's transaction); an erasure of a
    conversation erased before moves its ``erased_at`` forward, never back.
    """
    moment = as_utc(now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    hashes = sorted({conversation_hash(c) for c in conversations})
    for key in hashes:
        statement = insert(AnalyticsErased).values(conversation_hash=key, erased_at=moment)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[AnalyticsErased.conversation_hash],
                set_={"erased_at": statement.excluded.erased_at},
                where=AnalyticsErased.erased_at < statement.excluded.erased_at,
            )
        )
    return len(hashes)


def erased_at(session: Session, conversations: Iterable[str]) -> dict[str, datetime]:
    """When each of these conversations was last erased (UTC); the ones never erased are absent."""
    by_hash = {conversation_hash(c): c for c in set(conversations)}
    keys = sorted(by_hash)
    found: dict[str, datetime] = {}
    for start in range(0, len(keys), CHUNK):
        rows = session.execute(
            select(AnalyticsErased.conversation_hash, AnalyticsErased.erased_at).where(
                AnalyticsErased.conversation_hash.in_(keys[start : start + CHUNK])
            )
        ).all()
        found.update({by_hash[key]: as_utc(moment) for key, moment in rows})
    return found


def purge(session: Session, cutoff: datetime) -> int:
    """Deletes the rows of erasures older than ``cutoff`` (the transcript period's)."""
    deleted = session.execute(delete(AnalyticsErased).where(AnalyticsErased.erased_at < cutoff)).rowcount
    return int(deleted or 0)
