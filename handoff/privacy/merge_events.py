"""The audit entries of customer merges: two customers became one, or a merge was undone."""

import logging

from sqlalchemy.engine import Engine

from handoff.audit import audit_log
from handoff.privacy.customer_merges import Merge
from handoff.shared.audit_entry import SERVICE_ACTOR, NewEntry

logger = logging.getLogger(__name__)

MERGE_RULE = (
    "identities presented together by an authenticated caller (verified: a Twilio number, a site's "
    "signed identity token, a server-issued web chat session) belong to one customer; customers who "
    "already existed are merged into the oldest, and the more private choice wins"
)


def _merge_entry(merge: Merge, kind: str, summary: str) -> NewEntry:
    # Identity values (phone numbers, e-mails) stay out of the log: their kinds say enough.
    return NewEntry(
        key=f"{kind}:{merge.id}",
        conversation_id=f"customer:{merge.kept}",
        customer=merge.kept,
        kind=kind,
        actor=SERVICE_ACTOR,
        summary=summary,
        explanation={
            "rule": MERGE_RULE,
            "undo": f"POST /api/v1/customers/merges/{merge.id}/undo",
        },
        inputs=merge.to_dict(),
        sources=(f"POST /api/v1/customers/{merge.source} (bearer token)", "customer_merges"),
        opted_out=False,
        created_at=merge.undone_at or merge.at,
    )


def customers_merged(engine: Engine, merge: Merge) -> None:
    """Two customers became one: who was kept, what moved, which choice won."""
    try:
        entry = _merge_entry(
            merge,
            "customer_merge",
            f"Customer {merge.removed} merged into {merge.kept} (merge {merge.id}): "
            f"{len(merge.identity_kinds)} identities and {merge.consent_events} consent events moved; "
            f"emotion processing {merge.choice_after}",
        )
    except Exception:
        logger.exception("audit entry for customer merge %s could not be built", merge.id)
        return
    audit_log.record(engine, entry)


def customer_merge_undone(engine: Engine, merge: Merge) -> None:
    """A merge was undone: the removed customer is back with what it had."""
    try:
        entry = _merge_entry(
            merge,
            "customer_merge_undone",
            f"Merge {merge.id} undone: customer {merge.removed} restored apart from {merge.kept}",
        )
    except Exception:
        logger.exception("audit entry for undoing customer merge %s could not be built", merge.id)
        return
    audit_log.record(engine, entry)
