"""Data-subject requests and retention: export, erase and purge across every store Attune writes.

Where a customer's data lives (all reached by URL, none through Rasa's code):

- the handoff service database: the customer, their identities and consent log, handoffs (with
  call jobs, webhook deliveries, emotion flags) and audit entries;
- Rasa's SQL tracker store (table ``events``): the conversations, one row per event;
- the action server's store database: the contact history (``attune_contacts``);
- CSAT: the answers (``csat_answers``) and when the customer was last asked (the action server's
  ``attune_csat_asked``): handoff/privacy/csat_data.py;
- shadow mode's records (the action server's ``attune_shadow``: live and candidate scores and
  decisions per turn): handoff/privacy/shadow_data.py;
- the analytics tables (handoff/analytics/) and Rasa's SQL event broker table (``events`` of
  ATTUNE_EVENT_BROKER_URL, a copy of every tracker event): handoff/analytics/privacy.py.

A customer's conversations are found from their identities (conversation ids are namespaced by
channel, handoff/shared/conversation_ids.py): a ``session`` identity is the conversation id itself
(``web:<session>`` or ``rest:<sender>``); a phone number ``+44…`` is ``sms:+44…`` and
``whatsapp:+44…`` (and the bare number, a conversation stored before namespacing); plus every
conversation whose handoff names them.  Audit entries keep the id they were written with (it is
inside their hash), so entries are also found under the legacy form of each id.  ``erase`` deletes
all of it and leaves one pseudonymous audit entry saying an erasure happened
(handoff/audit/audit_log.py).  ``purge``
applies the retention periods: emotion data first (scores, readings, tone, explanations), then
whole transcripts and handoffs.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.analytics import privacy as analytics_privacy
from handoff.audit import audit_log
from handoff.core.db import as_utc
from handoff.core.models import (
    CallJob,
    ConsentEvent,
    Customer,
    CustomerIdentity,
    CustomerMerge,
    EmotionFlag,
    Handoff,
    HandoffSearch,
    WebhookDelivery,
)
from handoff.privacy import consent_epoch, csat_data, customers, shadow_data
from handoff.privacy.customer_merges import merges_of
from handoff.shared.conversation_ids import PREFIXES, SMS, WHATSAPP
from handoff.shared.errors import NotFound

# Slots of the empathy engine: what a conversation holds about a customer's feelings.
EMOTION_SLOTS = (
    "frustration",
    "distress",
    "frustration_trajectory",
    "tone",
    "empathy_state",
    "empathy_explanation",
    # The per-turn record (actions/turn_record.py): scores and signals in it, with consent.
    "turn_record",
)
EMOTION_PAYLOAD_FIELDS = ("trajectory", "tone", "explanation", "emotions")


@dataclass(frozen=True)
class Retention:
    emotion_days: int = 30
    transcript_days: int = 180
    audit_days: int = 730


def retention_from(environ: Any) -> Retention:
    """ATTUNE_RETENTION_EMOTION_DAYS / _TRANSCRIPT_DAYS / _AUDIT_DAYS (whole days, at least 1)."""

    def days(name: str, default: int) -> int:
        raw = str(environ.get(name, default)).strip()
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"{name} must be a whole number of days (at least 1), got {raw!r}")
        return int(raw)

    return Retention(
        days("ATTUNE_RETENTION_EMOTION_DAYS", Retention.emotion_days),
        days("ATTUNE_RETENTION_TRANSCRIPT_DAYS", Retention.transcript_days),
        days("ATTUNE_RETENTION_AUDIT_DAYS", Retention.audit_days),
    )


@dataclass(frozen=True)
class Stores:
    handoff: Engine
    tracker: Engine | None = None
    contacts: Engine | None = None
    # The action server's outbox: handoffs and audit entries about the customer not yet delivered.
    outbox: Engine | None = None
    # Rasa's SQL event broker (its ``events`` table, the analytics consumer's source).
    broker: Engine | None = None


def find_customer(engine: Engine, who: str) -> str:
    """A customer id ("cust-…") or an identity ("phone:+44…", "email:…", "id:…", "session:…")."""
    if who.startswith("cust-"):
        with Session(engine) as session:
            if session.get(Customer, who) is None:
                raise NotFound(f"no customer {who!r}")
        return who
    kind, _, value = who.partition(":")
    identity = customers.normalise(kind, value)
    with Session(engine) as session:
        row = session.get(CustomerIdentity, (identity.kind, identity.value))
        if row is None:
            raise NotFound(f"no customer with {kind} {value!r}")
        return str(row.customer_id)


def conversations_of(identities: list[customers.Identity]) -> set[str]:
    """The conversation ids these identities reach us through."""
    found: set[str] = set()
    for identity in identities:
        if identity.kind == "session":
            found.add(identity.value)
        elif identity.kind == "phone":
            found |= {SMS + identity.value, WHATSAPP + identity.value, identity.value}
    return found


def _legacy_forms(conversations: set[str]) -> set[str]:
    """Each id and its form from before namespacing (audit entries keep the id they were written with)."""
    legacy = set(conversations)
    for conversation in conversations:
        for prefix in PREFIXES:
            if conversation.startswith(prefix) and prefix != WHATSAPP:  # WhatsApp ids always had it
                legacy.add(conversation.removeprefix(prefix))
    return legacy


def _conversations(session: Session, customer_id: str) -> tuple[set[str], list[Handoff]]:
    identities = session.execute(
        select(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
    ).scalars()
    senders = conversations_of([customers.Identity(i.kind, i.value) for i in identities])
    handoffs = [
        h
        for h in session.execute(select(Handoff)).scalars()
        if h.conversation_id in senders
        or json.loads(h.payload).get("customer", {}).get("pseudonym") == customer_id
    ]
    senders |= {h.conversation_id for h in handoffs}
    return senders, handoffs


def _csat_keys(stores: Stores, customer_id: str, senders: set[str]) -> set[str]:
    """The CSAT ledger keys of this customer: verified as their customer id or an identity token's
    ``sub`` (an ``id`` identity), or counted by one of their conversations.
    """
    token_ids = [i.value for i in customers.identities_of(stores.handoff, customer_id) if i.kind == "id"]
    return csat_data.ledger_keys([customer_id, *token_ids], senders)


def _has_table(engine: Engine, name: str) -> bool:
    return bool(inspect(engine).has_table(name))


def _tracker_events(tracker: Engine | None, senders: set[str]) -> dict[str, list[Any]]:
    if tracker is None or not senders or not _has_table(tracker, "events"):
        return {}
    found: dict[str, list[Any]] = {}
    with tracker.connect() as connection:
        for sender in sorted(senders):
            rows = connection.execute(
                text("SELECT data FROM events WHERE sender_id = :sender ORDER BY id"), {"sender": sender}
            ).all()
            if rows:
                found[sender] = [json.loads(row[0]) for row in rows]
    return found


def _contacts(contacts: Engine | None, senders: set[str]) -> list[dict[str, Any]]:
    if contacts is None or not senders or not _has_table(contacts, "attune_contacts"):
        return []
    with contacts.connect() as connection:
        return [
            dict(row._mapping)
            for sender in sorted(senders)
            for row in connection.execute(
                text("SELECT * FROM attune_contacts WHERE sender_id = :sender"), {"sender": sender}
            ).all()
        ]


def _audit_rows(session: Session, customer_id: str, senders: set[str]) -> list[Any]:
    from handoff.core.models import AuditEntry

    return list(
        session.execute(
            select(AuditEntry)
            .where(
                (AuditEntry.customer == customer_id)
                | (AuditEntry.conversation_id.in_(_legacy_forms(senders)))
            )
            .order_by(AuditEntry.seq)
        ).scalars()
    )


def export(stores: Stores, who: str, now: datetime | None = None) -> dict[str, Any]:
    """Everything held about one customer, as one JSON-ready document."""
    customer_id = find_customer(stores.handoff, who)
    with Session(stores.handoff) as session:
        senders, handoffs = _conversations(session, customer_id)
        handoff_ids = [h.id for h in handoffs]
        calls = session.execute(select(CallJob).where(CallJob.handoff_id.in_(handoff_ids))).scalars()
        audit_rows = _audit_rows(session, customer_id, senders)
        return {
            "customer": customer_id,
            "exported_at": (now or datetime.now(timezone.utc)).isoformat(),
            "identities": [
                {"kind": i.kind, "value": i.value}
                for i in customers.identities_of(stores.handoff, customer_id)
            ],
            "consent_log": customers.consent_log(stores.handoff, customer_id),
            "merges": [merge.to_dict() for merge in merges_of(stores.handoff, customer_id)],
            "conversations": _tracker_events(stores.tracker, senders),
            "handoffs": [
                {
                    "id": h.id,
                    "conversation_id": h.conversation_id,
                    "status": h.status,
                    "created_at": as_utc(h.created_at).isoformat(),
                    "payload": json.loads(h.payload),
                    # What they and the agent said (kept when it was resolved; issue 16).
                    "human_transcript": json.loads(h.human_transcript) if h.human_transcript else None,
                }
                for h in handoffs
            ],
            "call_backs": [
                {
                    "id": c.id,
                    "handoff_id": c.handoff_id,
                    "to": c.to_number,
                    "status": c.status,
                    "attempts": c.attempts,
                    "trail": json.loads(c.trail_json or "[]"),
                    "request": json.loads(c.request_json) if c.request_json else None,
                }
                for c in calls
            ],
            "audit": [
                {
                    "seq": a.seq,
                    "kind": a.kind,
                    "conversation_id": a.conversation_id,
                    "summary": a.summary,
                    "explanation": json.loads(a.explanation_json),
                    "created_at": as_utc(a.created_at).isoformat(),
                }
                for a in audit_rows
            ],
            "contact_history": _contacts(stores.contacts, senders),
            "csat_answers": csat_data.export_answers(session, senders, handoff_ids),
            "csat_asked": csat_data.export_asked(stores.contacts, _csat_keys(stores, customer_id, senders)),
            "shadow_records": shadow_data.export_records(stores.contacts, senders),
            "analytics": analytics_privacy.export(stores.handoff, senders),
            "broker_events": analytics_privacy.broker_events(stores.broker, senders),
        }


def _delete_handoffs(session: Session, handoff_ids: list[str]) -> int:
    if not handoff_ids:
        return 0
    for model in (CallJob, WebhookDelivery, EmotionFlag, HandoffSearch):
        session.execute(delete(model).where(model.handoff_id.in_(handoff_ids)))
    return int(session.execute(delete(Handoff).where(Handoff.id.in_(handoff_ids))).rowcount or 0)


def erase(stores: Stores, who: str, now: datetime | None = None) -> dict[str, int]:
    """Deletes everything about one customer everywhere; one pseudonymous audit entry remains."""
    customer_id = find_customer(stores.handoff, who)
    emails = {i.value for i in customers.identities_of(stores.handoff, customer_id) if i.kind == "email"}
    counts: dict[str, int] = {}
    with Session(stores.handoff) as session, session.begin():
        senders, handoffs = _conversations(session, customer_id)
        # Read before the identities go: the ledger counts a verified customer by their ids.
        csat_keys = _csat_keys(stores, customer_id, senders)
        # Before the handoffs: an answer points at the handoff it followed.
        counts["csat_answers"] = csat_data.erase_answers(session, senders, [h.id for h in handoffs])
        counts["handoffs"] = _delete_handoffs(session, [h.id for h in handoffs])
        counts["audit_entries_redacted"] = audit_log.redact(
            session, _audit_rows(session, customer_id, senders)
        )
        counts["consent_events"] = int(
            session.execute(delete(ConsentEvent).where(ConsentEvent.customer_id == customer_id)).rowcount or 0
        )
        # A merge record holds the identities it moved: it goes with the customer (nothing left to undo).
        counts["customer_merges"] = int(
            session.execute(
                delete(CustomerMerge).where(
                    (CustomerMerge.kept_id == customer_id) | (CustomerMerge.removed_id == customer_id)
                )
            ).rowcount
            or 0
        )
        counts["identities"] = int(
            session.execute(
                delete(CustomerIdentity).where(CustomerIdentity.customer_id == customer_id)
            ).rowcount
            or 0
        )
        session.execute(delete(Customer).where(Customer.id == customer_id))
        counts.update(analytics_privacy.erase(session, senders, now))
        # Their identities no longer answer with this customer (nor with their choice).
        consent_epoch.bump(session, now)
    if stores.tracker is not None and senders and _has_table(stores.tracker, "events"):
        with stores.tracker.begin() as connection:
            counts["tracker_events"] = sum(
                int(
                    connection.execute(text("DELETE FROM events WHERE sender_id = :s"), {"s": s}).rowcount
                    or 0
                )
                for s in senders
            )
    if stores.contacts is not None and senders and _has_table(stores.contacts, "attune_contacts"):
        with stores.contacts.begin() as connection:
            counts["contacts"] = sum(
                int(
                    connection.execute(
                        text("DELETE FROM attune_contacts WHERE sender_id = :s"), {"s": s}
                    ).rowcount
                    or 0
                )
                for s in senders
            )
    if stores.broker is not None:
        counts["broker_events"] = analytics_privacy.erase_broker(stores.broker, senders)
    if stores.contacts is not None:
        counts.update(_erase_self_service(stores.contacts, senders, emails))
        counts["csat_asked"] = csat_data.erase_asked(stores.contacts, csat_keys)
        counts["shadow_records"] = shadow_data.erase_records(stores.contacts, senders)
    if stores.outbox is not None and senders:
        counts.update(_erase_queued(stores.outbox, senders))
    # What remains: that an erasure happened, under a one-way pseudonym, with the counts.
    tombstone = hashlib.sha256(customer_id.encode()).hexdigest()[:16]
    audit_log.record_erasure(stores.handoff, tombstone, counts, now)
    return counts


# The self-service records in the action server's store database (actions/store/models.py):
# one-time codes and limit counters by conversation, the demo mailbox by e-mail address.
SELF_SERVICE = (
    ("verification_codes", "conversation_id", lambda sender: sender),
    ("self_service_events", "key", lambda sender: f"conversation:{sender}"),
)


def _erase_self_service(store: Engine, senders: set[str], emails: set[str]) -> dict[str, int]:
    counts = {}
    with store.begin() as connection:
        for table, column, key_of in SELF_SERVICE:
            if _has_table(store, table):
                counts[table] = sum(
                    int(
                        connection.execute(
                            text(f"DELETE FROM {table} WHERE {column} = :k"), {"k": key_of(s)}
                        ).rowcount
                        or 0
                    )
                    for s in senders
                )
        if _has_table(store, "outbound_messages"):
            counts["outbound_messages"] = sum(
                int(
                    connection.execute(
                        text("DELETE FROM outbound_messages WHERE lower(address) = :a"), {"a": e}
                    ).rowcount
                    or 0
                )
                for e in emails
            )
    return counts


# The action server's queues (actions/outbox.py, actions/audit_queue.py): table, key, JSON column.
QUEUES = (("handoff_outbox", "idempotency_key", "payload"), ("audit_queue", "key", "entry"))
# CSAT answers on their way to the handoff service (actions/csat_queue.py): a comment in their words.
CSAT_QUEUE = ("csat_queue", "answer_id", "answer")


def _erase_queued(outbox: Engine, senders: set[str]) -> dict[str, int]:
    """Drops the customer's handoffs and audit entries still waiting in the outbox: delivered after
    the erasure, they would bring the customer back.
    """
    counts = {}
    for table, key, column in (*QUEUES, CSAT_QUEUE):
        if not _has_table(outbox, table):
            continue
        with outbox.begin() as connection:
            rows = connection.execute(text(f"SELECT {key}, {column} FROM {table}")).all()
            doomed = [row[0] for row in rows if _queued_conversation(row[1]) in senders]
            for doomed_key in doomed:
                connection.execute(text(f"DELETE FROM {table} WHERE {key} = :k"), {"k": doomed_key})
        counts[f"queued_{table}"] = len(doomed)
    return counts


def _queued_conversation(document: str) -> str | None:
    try:
        value = json.loads(document).get("conversation_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _scrub_event(event: dict[str, Any]) -> bool:
    """Removes emotion data from one tracker event in place; True if anything changed."""
    changed = False
    if event.get("event") == "user":
        parse = event.get("parse_data") or {}
        if "emotion" in parse:
            del parse["emotion"]
            changed = True
    elif (
        event.get("event") == "slot" and event.get("name") in EMOTION_SLOTS and event.get("value") is not None
    ):
        event["value"] = None
        changed = True
    return changed


def purge(stores: Stores, retention: Retention, now: datetime | None = None) -> dict[str, int]:
    """Applies the retention periods; returns how many rows of each kind changed or went."""
    moment = now or datetime.now(timezone.utc)
    emotion_cutoff = moment - timedelta(days=retention.emotion_days)
    transcript_cutoff = moment - timedelta(days=retention.transcript_days)
    counts = {
        "tracker_events_deleted": 0,
        "tracker_events_scrubbed": 0,
        "handoffs_deleted": 0,
        "handoffs_scrubbed": 0,
    }
    if stores.tracker is not None and _has_table(stores.tracker, "events"):
        with stores.tracker.begin() as connection:
            counts["tracker_events_deleted"] = int(
                connection.execute(
                    text("DELETE FROM events WHERE timestamp < :t"), {"t": transcript_cutoff.timestamp()}
                ).rowcount
                or 0
            )
            rows = connection.execute(
                text("SELECT id, data FROM events WHERE timestamp < :t AND type_name IN ('user', 'slot')"),
                {"t": emotion_cutoff.timestamp()},
            ).all()
            for row_id, data in rows:
                event = json.loads(data)
                if _scrub_event(event):
                    connection.execute(
                        text("UPDATE events SET data = :d WHERE id = :i"),
                        {"d": json.dumps(event), "i": row_id},
                    )
                    counts["tracker_events_scrubbed"] += 1
    with Session(stores.handoff) as session, session.begin():
        old = [
            h.id
            for h in session.execute(select(Handoff).where(Handoff.created_at < transcript_cutoff)).scalars()
        ]
        # Before the handoffs they point at: an answer goes with the transcript it describes.
        counts["csat_answers_deleted"] = csat_data.purge_answers(session, transcript_cutoff, old)
        counts["handoffs_deleted"] = _delete_handoffs(session, old)
        for handoff in session.execute(select(Handoff).where(Handoff.created_at < emotion_cutoff)).scalars():
            payload = json.loads(handoff.payload)
            if any(field in payload for field in EMOTION_PAYLOAD_FIELDS):
                for field in EMOTION_PAYLOAD_FIELDS:
                    payload.pop(field, None)
                payload.setdefault(
                    "retention_note", f"emotion data removed after {retention.emotion_days} days"
                )
                handoff.payload = json.dumps(payload, ensure_ascii=False)
                counts["handoffs_scrubbed"] += 1

    counts["audit_entries_redacted"] = audit_log.expire(
        stores.handoff, moment - timedelta(days=retention.audit_days)
    )
    counts.update(analytics_privacy.purge(stores.handoff, emotion_cutoff, transcript_cutoff))
    counts.update(
        analytics_privacy.purge_broker(stores.broker, emotion_cutoff, transcript_cutoff, _scrub_event)
    )
    counts["csat_asked_deleted"] = csat_data.purge_asked(stores.contacts, transcript_cutoff)
    counts["shadow_records_deleted"] = shadow_data.purge_records(stores.contacts, emotion_cutoff)
    return counts
