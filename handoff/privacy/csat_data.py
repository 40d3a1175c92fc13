"""What export, erasure and retention (personal_data.py) do to CSAT data outside the analytics tables.

Two stores hold it:

- the handoff service's ``csat_answers`` (handoff/queue/csat.py): a score and a comment in the
  customer's own words, by conversation and by the handoff it followed;
- the action server's ledger ``attune_csat_asked`` (actions/csat_ledger.py, in the store database,
  ATTUNE_STORE_DATABASE_URL): when each customer was last asked, keyed ``customer:<verified id>``
  (the handoff service's customer id or an identity token's ``sub``, an ``id`` identity here) or
  ``conversation:<conversation id>`` for a customer nobody verified.  The handoff service never
  imports the action server, so the table is reached by name, like the other action server tables.

Erasure deletes both (an erased customer may be asked again: the memory that kept the question rare
was theirs too).  Retention: an answer goes with the transcript it describes (its handoff's, or its
own date after the transcript period); a ledger row older than the transcript period goes, so a
``suppression_days`` (policy/csat.yml) longer than ATTUNE_RETENTION_TRANSCRIPT_DAYS is cut to it.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.core.db import as_utc
from handoff.core.models import CsatAnswer

LEDGER_TABLE: Final = "attune_csat_asked"
# actions/csat_ledger.py ``customer_key``: the two kinds of key and their length cap.
CUSTOMER_KEY: Final = "customer:"
CONVERSATION_KEY: Final = "conversation:"
MAX_KEY_CHARS: Final = 300


def ledger_keys(verified_ids: Iterable[str], conversations: Iterable[str]) -> set[str]:
    """The ledger keys a customer can have been counted under."""
    keys = {CUSTOMER_KEY + verified for verified in verified_ids}
    keys |= {CONVERSATION_KEY + conversation for conversation in conversations}
    return {key[:MAX_KEY_CHARS] for key in keys}


def _answers_of(conversations: set[str], handoff_ids: list[str]) -> Any:
    return (CsatAnswer.conversation_id.in_(sorted(conversations))) | (CsatAnswer.handoff_id.in_(handoff_ids))


def export_answers(session: Session, conversations: set[str], handoff_ids: list[str]) -> list[dict[str, Any]]:
    """The customer's answers (their conversations', or after their handoffs), oldest first."""
    if not conversations and not handoff_ids:
        return []
    rows = session.execute(
        select(CsatAnswer).where(_answers_of(conversations, handoff_ids)).order_by(CsatAnswer.created_at)
    ).scalars()
    return [
        {
            "id": row.id,
            "conversation_id": row.conversation_id,
            "handoff_id": row.handoff_id,
            "score": row.score,
            "comment": row.comment,
            "created_at": as_utc(row.created_at).isoformat(),
        }
        for row in rows
    ]


def erase_answers(session: Session, conversations: set[str], handoff_ids: list[str]) -> int:
    """Deletes the customer's answers, in the caller's transaction (before their handoffs: the
    answers point at them).
    """
    if not conversations and not handoff_ids:
        return 0
    deleted = session.execute(
        delete(CsatAnswer)
        .where(_answers_of(conversations, handoff_ids))
        .execution_options(synchronize_session=False)
    ).rowcount
    return int(deleted or 0)


def purge_answers(session: Session, transcript_cutoff: datetime, old_handoffs: list[str]) -> int:
    """Deletes answers given before the transcript cutoff and those that followed a handoff that
    goes now (in the caller's transaction, before the handoffs).
    """
    deleted = session.execute(
        delete(CsatAnswer)
        .where((CsatAnswer.created_at < transcript_cutoff) | (CsatAnswer.handoff_id.in_(old_handoffs)))
        .execution_options(synchronize_session=False)
    ).rowcount
    return int(deleted or 0)


def _has_ledger(store: Engine | None) -> bool:
    return store is not None and bool(inspect(store).has_table(LEDGER_TABLE))


def export_asked(store: Engine | None, keys: set[str]) -> list[dict[str, Any]]:
    """When the customer was last asked, under each key they were counted by."""
    if store is None or not keys or not _has_ledger(store):
        return []
    with store.connect() as connection:
        return [
            {"key": row[0], "asked_at": float(row[1])}
            for key in sorted(keys)
            for row in connection.execute(
                text(f"SELECT customer_key, asked_at FROM {LEDGER_TABLE} WHERE customer_key = :k"),
                {"k": key},
            ).all()
        ]


def erase_asked(store: Engine | None, keys: set[str]) -> int:
    if store is None or not keys or not _has_ledger(store):
        return 0
    with store.begin() as connection:
        return sum(
            int(
                connection.execute(
                    text(f"DELETE FROM {LEDGER_TABLE} WHERE customer_key = :k"), {"k": key}
                ).rowcount
                or 0
            )
            for key in sorted(keys)
        )


def purge_asked(store: Engine | None, transcript_cutoff: datetime) -> int:
    if store is None or not _has_ledger(store):
        return 0
    with store.begin() as connection:
        deleted = connection.execute(
            text(f"DELETE FROM {LEDGER_TABLE} WHERE asked_at < :t"), {"t": transcript_cutoff.timestamp()}
        ).rowcount
    return int(deleted or 0)
