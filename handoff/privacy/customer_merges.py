"""Merging two customers into one, recorded so that it can be undone.

A merge happens only when an authenticated caller (the Rasa server's consent gate, the action
server) presents verified identities of two existing customers together (handoff/privacy/customers.py).
It moves the younger customer's identities and consent events to the older one, and the more
private choice wins.  Each merge is a row of ``customer_merges`` saying exactly what moved and what
each choice was, and an audit entry (handoff/audit/audit_events.py).

``undo`` puts it back: the removed customer returns with its id, creation time, identities and
consent events.  Its choice is the one it had, unless the merged customer opted out after the merge
(an opt-out made then could have been either person's: the private choice stays).  The kept
customer gets its earlier choice back unless it was changed after the merge.  A merge cannot be
undone twice, nor once the kept customer is gone (erased, or merged into another) or one of the moved
identities has since moved on: 409.
"""

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.core.db import as_utc
from handoff.core.models import ConsentEvent, Customer, CustomerIdentity, CustomerMerge
from handoff.privacy import consent_epoch
from handoff.shared.errors import Conflict, NotFound

MERGE_SOURCES = ("resolve", "consent")


@dataclass(frozen=True)
class Merge:
    id: str
    kept: str
    removed: str
    identity_kinds: tuple[str, ...]
    consent_events: int
    kept_choice_before: str
    removed_choice: str
    choice_after: str
    source: str
    at: datetime
    undone_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """What the API shows: kinds of the identities that moved, never their values."""
        return {
            "id": self.id,
            "kept": self.kept,
            "removed": self.removed,
            "identity_kinds": list(self.identity_kinds),
            "consent_events": self.consent_events,
            "emotion_processing": {
                "kept_before": self.kept_choice_before,
                "removed": self.removed_choice,
                "after": self.choice_after,
            },
            "source": self.source,
            "at": self.at.isoformat(),
            "undone_at": self.undone_at.isoformat() if self.undone_at else None,
        }


def _merge_of(row: CustomerMerge) -> Merge:
    identities = json.loads(row.identities_json)
    return Merge(
        id=row.id,
        kept=row.kept_id,
        removed=row.removed_id,
        identity_kinds=tuple(sorted(i["kind"] for i in identities)),
        consent_events=len(json.loads(row.consent_events_json)),
        kept_choice_before=row.kept_choice_before,
        removed_choice=row.removed_choice,
        choice_after=row.choice_after,
        source=row.source,
        at=as_utc(row.created_at),
        undone_at=as_utc(row.undone_at) if row.undone_at else None,
    )


def merge(session: Session, kept: Customer, other: Customer, source: str, now: datetime) -> Merge:
    """Moves ``other`` into ``kept`` inside the caller's transaction and records what moved."""
    identities = session.execute(
        select(CustomerIdentity.kind, CustomerIdentity.value).where(CustomerIdentity.customer_id == other.id)
    ).all()
    events = session.execute(select(ConsentEvent.id).where(ConsentEvent.customer_id == other.id)).scalars()
    event_ids = sorted(int(e) for e in events)
    before = str(kept.emotion_processing)
    session.execute(
        update(CustomerIdentity).where(CustomerIdentity.customer_id == other.id).values(customer_id=kept.id)
    )
    session.execute(
        update(ConsentEvent).where(ConsentEvent.customer_id == other.id).values(customer_id=kept.id)
    )
    if other.emotion_processing == "off":
        kept.emotion_processing = "off"
    row = CustomerMerge(
        id=str(uuid.uuid4()),
        kept_id=kept.id,
        removed_id=other.id,
        removed_created_at=other.created_at,
        removed_choice=other.emotion_processing,
        kept_choice_before=before,
        choice_after=kept.emotion_processing,
        identities_json=json.dumps([{"kind": k, "value": v} for k, v in identities], ensure_ascii=False),
        consent_events_json=json.dumps(event_ids),
        source=source,
        created_at=now,
    )
    session.delete(other)
    session.add(row)
    # Two customers' identities now answer with one id and the more private choice.
    consent_epoch.bump(session, now)
    session.flush()
    return _merge_of(row)


def _still_undoable(session: Session, row: CustomerMerge) -> Customer:
    """The kept customer, when everything the merge moved is still where it put it; else Conflict."""
    if row.undone_at is not None:
        raise Conflict(f"merge {row.id} was already undone")
    kept: Customer | None = session.get(Customer, row.kept_id)
    if kept is None:
        raise Conflict(f"merge {row.id} can no longer be undone: customer {row.kept_id} is gone")
    if session.get(Customer, row.removed_id) is not None:
        raise Conflict(f"merge {row.id} can no longer be undone: customer {row.removed_id} exists")
    for identity in json.loads(row.identities_json):
        owner = session.get(CustomerIdentity, (identity["kind"], identity["value"]))
        if owner is None or owner.customer_id != kept.id:
            raise Conflict(
                f"merge {row.id} can no longer be undone: one of the {identity['kind']} identities it "
                f"moved no longer belongs to {row.kept_id}"
            )
    return kept


def undo(engine: Engine, merge_id: str, now: datetime | None = None) -> Merge:
    """Restores the customer a merge removed; NotFound / Conflict as the module says."""
    moment = now or datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        row = session.get(CustomerMerge, merge_id)
        if row is None:
            raise NotFound(f"no customer merge {merge_id!r}")
        kept = _still_undoable(session, row)
        # Conditional: of two undos at once, only one finds it not yet undone.
        claimed = session.execute(
            update(CustomerMerge)
            .where(CustomerMerge.id == merge_id, CustomerMerge.undone_at.is_(None))
            .values(undone_at=moment)
        ).rowcount
        if not claimed:
            raise Conflict(f"merge {merge_id} was already undone")
        changed_since = session.execute(
            select(func.count())
            .select_from(ConsentEvent)
            .where(ConsentEvent.customer_id == kept.id, ConsentEvent.created_at > row.created_at)
        ).scalar_one()
        opted_out_since = bool(changed_since) and kept.emotion_processing == "off"
        session.add(
            Customer(
                id=row.removed_id,
                emotion_processing="off" if opted_out_since else row.removed_choice,
                created_at=row.removed_created_at,
            )
        )
        session.flush()
        for identity in json.loads(row.identities_json):
            session.execute(
                update(CustomerIdentity)
                .where(CustomerIdentity.kind == identity["kind"], CustomerIdentity.value == identity["value"])
                .values(customer_id=row.removed_id)
            )
        moved_events = json.loads(row.consent_events_json)
        if moved_events:
            session.execute(
                update(ConsentEvent)
                .where(ConsentEvent.id.in_(moved_events), ConsentEvent.customer_id == kept.id)
                .values(customer_id=row.removed_id)
            )
        if not changed_since:
            kept.emotion_processing = row.kept_choice_before
        consent_epoch.bump(session, moment)  # the moved identities answer with the restored customer
        session.flush()
        session.refresh(row)
        return _merge_of(row)


def merges_of(engine: Engine, customer_id: str) -> list[Merge]:
    """The merges that kept or removed this customer, oldest first."""
    with Session(engine) as session:
        rows = session.execute(
            select(CustomerMerge)
            .where((CustomerMerge.kept_id == customer_id) | (CustomerMerge.removed_id == customer_id))
            .order_by(CustomerMerge.created_at)
        ).scalars()
        return [_merge_of(row) for row in rows]
