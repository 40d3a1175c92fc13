"""A customer's earlier contacts: conversations, handoffs and call-backs of the same *verified* customer.

Who counts as the same customer is decided only by what was verified (handoff/privacy/customers.py):

- the handoff's customer is the pseudonym in its payload; histories link only when that pseudonym
  is a customer the service itself resolved (a ``customers`` row) holding at least one verified
  identity: a site login id or e-mail from a signed token, or a phone number Twilio vouched for;
- a pseudonym the action server derived from what a customer typed (an e-mail in the chat), an
  anonymous web session and a REST sender (chosen by the client) link nothing: such a handoff has
  no history, however many others carry the same claim;
- customers merged into this one (a merge not undone) are the same customer.

What is shown is masked for the reader exactly like the handoff page (handoff/core/access.py);
call-back numbers are not shown here at all (the handoff page shows them to roles that may).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.core import access
from handoff.core.db import as_utc
from handoff.core.models import (
    AuditEntry,
    CallJob,
    Customer,
    CustomerIdentity,
    CustomerMerge,
    Handoff,
    HandoffSearch,
)
from handoff.history.search_index import catch_up, customer_of
from handoff.queue.handoffs import raw_payload

# Identity kinds only a verified source can assert (a session can be anonymous or client-chosen).
VERIFIED_KINDS: Final = ("id", "phone", "email")
MAX_ITEMS: Final = 50
# Merges chained into merges: followed this deep at most.
MAX_MERGE_DEPTH: Final = 10


@dataclass(frozen=True)
class History:
    customer: str | None  # None: the handoff's customer is not verified, so nothing links
    handoffs: list[dict[str, Any]]
    calls: list[dict[str, Any]]
    conversations: list[dict[str, Any]]

    @property
    def empty(self) -> bool:
        return not (self.handoffs or self.calls or self.conversations)


def verified_ids(session: Session, pseudonym: str | None) -> frozenset[str]:
    """The customer ids that are the verified customer ``pseudonym`` (empty when it is not one)."""
    if pseudonym is None or session.get(Customer, pseudonym) is None:
        return frozenset()
    verified = session.execute(
        select(CustomerIdentity.kind).where(
            CustomerIdentity.customer_id == pseudonym, CustomerIdentity.kind.in_(VERIFIED_KINDS)
        )
    ).first()
    if verified is None:
        return frozenset()
    ids, frontier = {pseudonym}, {pseudonym}
    for _ in range(MAX_MERGE_DEPTH):
        merged = set(
            session.execute(
                select(CustomerMerge.removed_id).where(
                    CustomerMerge.kept_id.in_(frontier), CustomerMerge.undone_at.is_(None)
                )
            ).scalars()
        )
        frontier = merged - ids
        if not frontier:
            break
        ids |= frontier
    return frozenset(ids)


def _summary(payload_text: str, grants: frozenset[str]) -> str:
    document, _ = raw_payload(payload_text)
    summary = document.get("summary") if isinstance(document, dict) else None
    return access.visible_text(summary if isinstance(summary, str) else "", grants)


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment is not None else None


def _handoffs(
    session: Session, ids: frozenset[str], exclude: str, grants: frozenset[str]
) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Handoff)
        .join(HandoffSearch, HandoffSearch.handoff_id == Handoff.id)
        .where(HandoffSearch.customer.in_(ids), Handoff.id != exclude)
        .order_by(Handoff.created_at.desc())
        .limit(MAX_ITEMS)
    ).scalars()
    return [
        {
            "id": h.id,
            "status": h.status,
            "reason": h.reason,
            "created_at": _iso(h.created_at),
            "resolved_at": _iso(h.resolved_at),
            "disposition": h.disposition,
            "summary": _summary(h.payload, grants),
        }
        for h in rows
    ]


def _calls(session: Session, ids: frozenset[str], exclude: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(CallJob.handoff_id, CallJob.status, CallJob.attempts, CallJob.created_at)
        .where(CallJob.customer.in_(ids), CallJob.handoff_id != exclude)
        .order_by(CallJob.created_at.desc())
        .limit(MAX_ITEMS)
    ).all()
    return [
        {"handoff_id": h, "status": status, "attempts": attempts, "created_at": _iso(created)}
        for h, status, attempts, created in rows
    ]


def _conversations(
    session: Session, ids: frozenset[str], current: str, grants: frozenset[str]
) -> list[dict[str, Any]]:
    """Conversations with automated decisions about this customer (the audit log's index, not its bodies)."""
    rows = session.execute(
        select(
            AuditEntry.conversation_id,
            func.min(AuditEntry.created_at),
            func.max(AuditEntry.created_at),
            func.count(),
        )
        .where(AuditEntry.customer.in_(ids), AuditEntry.conversation_id != current)
        .group_by(AuditEntry.conversation_id)
        .order_by(func.max(AuditEntry.created_at).desc())
        .limit(MAX_ITEMS)
    ).all()
    return [
        {
            "conversation": access.visible_text(conversation, grants),
            "first_at": _iso(first),
            "last_at": _iso(last),
            "decisions": int(count),
        }
        for conversation, first, last, count in rows
    ]


def for_handoff(engine: Engine, handoff_id: str, grants: frozenset[str]) -> History:
    """The earlier contacts of the customer of ``handoff_id`` (the caller checked it exists)."""
    catch_up(engine, recent_only=True)  # the handoffs that came in since the indexer's last round
    with Session(engine) as session:
        row = session.execute(
            select(Handoff.payload, Handoff.conversation_id).where(Handoff.id == handoff_id)
        ).first()
        if row is None:
            return History(None, [], [], [])
        document, _ = raw_payload(row.payload)
        ids = verified_ids(session, customer_of(document) if isinstance(document, dict) else None)
        if not ids:
            return History(None, [], [], [])
        return History(
            customer=customer_of(document) if isinstance(document, dict) else None,
            handoffs=_handoffs(session, ids, handoff_id, grants),
            calls=_calls(session, ids, handoff_id),
            conversations=_conversations(session, ids, row.conversation_id, grants),
        )
