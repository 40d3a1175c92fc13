"""The audit log of automated decisions ("right to explanation"): append, read, verify, redact.

Every tone change, escalation offer, handoff and call-back decision is one entry
(handoff/shared/audit_entry.py): what was decided, why, from which values and data, by whom and when.
Entries are only ever appended, each chained to the one before:

    body_hash  = sha256(salt + canonical JSON of what it says about the customer: conversation,
                        pseudonym, summary, explanation, inputs, sources)
    entry_hash = sha256(prev_hash + canonical JSON of its record: seq, key, kind, actor,
                        opted_out, times, body_hash)

with the first entry chaining from ``GENESIS``.  An edited, removed or reordered entry breaks the
chain at that point and ``verify`` names it; the one-row head (``audit_head``) must match the last
entry, so entries removed from the end are found too.  Every append updates the head first, which
serialises appends (SQLite's write lock, Postgres's row lock); ``seq`` is also unique, so a race
that slipped through fails and is retried rather than forking the chain.

Erasure (``redact``, ``record_erasure``) and the retention period (``expire``) empty an entry's
body: its place, record and hashes stay, so the chain still verifies and shows that something was
redacted, when and why, but not what.
"""

import dataclasses
import hashlib
import json
import logging
import random
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from handoff.core.db import as_utc
from handoff.core.models import AuditEntry, AuditHead
from handoff.shared.audit_entry import SERVICE_ACTOR, NewEntry, canonical, strip_emotional

logger = logging.getLogger(__name__)

GENESIS = hashlib.sha256(b"attune audit log v1").hexdigest()
APPEND_ATTEMPTS = 20
REDACTED = "[redacted]"


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    entry: NewEntry
    recorded_at: datetime
    body_hash: str
    prev_hash: str
    entry_hash: str
    redacted: str | None = None  # "erasure" or "retention": the body is gone
    # Whether the stored entry still matches its hashes (checked when read).
    intact: bool = True

    def withheld(self) -> "AuditRecord":
        """The record as shown to a role that may not see distress indicators (hashes unchanged)."""
        return dataclasses.replace(self, entry=strip_emotional(self.entry, opted_out=self.entry.opted_out))

    def to_dict(self) -> dict[str, Any]:
        return {
            **record_of(self.seq, self.entry, self.recorded_at, self.body_hash),
            **self.entry.body(),
            "prev_hash": self.prev_hash,
            "hash": self.entry_hash,
            "redacted": self.redacted,
            "intact": self.intact,
        }


@dataclass(frozen=True)
class Broken:
    seq: int
    reason: str


@dataclass(frozen=True)
class Verification:
    count: int  # entries checked and found intact (redacted ones included)
    head: str  # the hash of the last intact entry (GENESIS for an empty log)
    broken: Broken | None = None
    redacted: int = 0  # of ``count``, entries whose body was erased or expired

    @property
    def ok(self) -> bool:
        return self.broken is None


# --- the hashes -------------------------------------------------------------------------
def instant(moment: datetime) -> str:
    """The one text form of a time inside the hash: UTC, microseconds."""
    return as_utc(moment).astimezone(timezone.utc).isoformat(timespec="microseconds")


def key_digest(key: str) -> str:
    return hashlib.sha256(f"attune audit key|{key}".encode()).hexdigest()


def body_hash(entry: NewEntry, salt: str) -> str:
    """The body's digest.  The random salt is erased with the body, so an erased entry's digest
    cannot be used to confirm a guess of what it said.
    """
    return hashlib.sha256((salt + canonical(entry.body())).encode("utf-8")).hexdigest()


def record_of(seq: int, entry: NewEntry, recorded_at: datetime, body_digest: str) -> dict[str, Any]:
    """The part of an entry that is never erased, and what ``entry_hash`` covers."""
    return {
        "seq": seq,
        "key": entry.key,
        "kind": entry.kind,
        "actor": entry.actor,
        "opted_out": entry.opted_out,
        "created_at": instant(entry.created_at),
        "recorded_at": instant(recorded_at),
        "body_hash": body_digest,
    }


def chain_hash(prev_hash: str, record: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(record)).encode("utf-8")).hexdigest()


def _entry(row: Any) -> NewEntry:
    return NewEntry(
        key=row.key,
        conversation_id=row.conversation_id,
        customer=row.customer,
        kind=row.kind,
        actor=row.actor,
        summary=row.summary,
        explanation=json.loads(row.explanation_json),
        inputs=json.loads(row.inputs_json),
        sources=tuple(json.loads(row.sources_json)),
        opted_out=bool(row.opted_out),
        created_at=as_utc(row.created_at),
    )


def _problem(row: Any) -> str | None:
    """Why the stored row does not match its own hashes (None: it does)."""
    try:
        entry = _entry(row)
    except (ValueError, TypeError) as error:
        return f"its stored content is unreadable ({error})"
    if chain_hash(row.prev_hash, record_of(row.seq, entry, row.recorded_at, row.body_hash)) != row.entry_hash:
        return (
            "its record (kind, actor, times, body hash) does not match its hash (edited after it was written)"
        )
    if row.redacted is None and body_hash(entry, row.salt or "") != row.body_hash:
        return "its content does not match its hash (edited after it was written)"
    return None


def _record(row: Any) -> AuditRecord:
    try:
        entry = _entry(row)
    except (ValueError, TypeError):  # shown as altered rather than breaking the page
        entry = NewEntry(
            key=row.key,
            conversation_id=row.conversation_id,
            customer=None,
            kind=row.kind,
            actor=row.actor,
            summary="[unreadable]",
            explanation={},
            inputs={},
            sources=(),
            opted_out=bool(row.opted_out),
            created_at=as_utc(row.created_at),
        )
    return AuditRecord(
        row.seq,
        entry,
        as_utc(row.recorded_at),
        row.body_hash,
        row.prev_hash,
        row.entry_hash,
        row.redacted,
        _problem(row) is None,
    )


# --- writing ----------------------------------------------------------------------------
def append(engine: Engine, entry: NewEntry, now: datetime | None = None) -> tuple[AuditRecord, bool]:
    """Adds ``entry`` at the head of the chain; returns it and whether it is new.

    An entry whose key (a digest of it) is already stored is the same decision delivered again: the
    stored one is returned.  An opted-out customer's entry is stored without emotional data,
    whatever was sent.
    """
    if entry.opted_out:
        entry = strip_emotional(entry)
    # Only a digest of the writer's key is kept: the record is never erased, so it holds nothing
    # a writer might have put in a key (a conversation id can be a phone number).
    entry = dataclasses.replace(entry, key=key_digest(entry.key))
    for attempt in range(APPEND_ATTEMPTS):
        try:
            return _append_once(engine, entry, now)
        except (IntegrityError, OperationalError) as error:
            # A lost race (the very first entry, a duplicate key) or a SQLite file busy for too long.
            if isinstance(error, OperationalError) and "locked" not in str(error).lower():
                raise
            if attempt + 1 == APPEND_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.001, 0.01) * (attempt + 1))
    raise AssertionError("unreachable")


def _append_once(engine: Engine, entry: NewEntry, now: datetime | None) -> tuple[AuditRecord, bool]:
    moment = as_utc(now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    with Session(engine) as session, session.begin():
        existing = session.execute(select(AuditEntry).where(AuditEntry.key == entry.key)).scalar_one_or_none()
        if existing is not None:
            return _record(existing), False
        # Moving the head first takes the lock every other append waits for, so the head read next
        # is the newest one.
        moved = session.execute(
            update(AuditHead).where(AuditHead.id == 1).values(seq=AuditHead.seq + 1)
        ).rowcount
        if moved:
            head = session.execute(select(AuditHead.seq, AuditHead.entry_hash).where(AuditHead.id == 1)).one()
            seq, prev_hash = int(head.seq), str(head.entry_hash)
        else:  # the very first entry (two at once: one insert fails and is retried)
            seq, prev_hash = 1, GENESIS
        salt = secrets.token_hex(16)
        digest = body_hash(entry, salt)
        entry_hash = chain_hash(prev_hash, record_of(seq, entry, moment, digest))
        session.add(
            AuditEntry(
                seq=seq,
                key=entry.key,
                conversation_id=entry.conversation_id,
                customer=entry.customer,
                kind=entry.kind,
                actor=entry.actor,
                summary=entry.summary,
                explanation_json=canonical(entry.explanation),
                inputs_json=canonical(entry.inputs),
                sources_json=canonical(list(entry.sources)),
                opted_out=entry.opted_out,
                created_at=as_utc(entry.created_at).astimezone(timezone.utc),
                recorded_at=moment,
                salt=salt,
                body_hash=digest,
                prev_hash=prev_hash,
                entry_hash=entry_hash,
            )
        )
        if moved:
            session.execute(update(AuditHead).where(AuditHead.id == 1).values(entry_hash=entry_hash))
        else:
            session.add(AuditHead(id=1, seq=seq, entry_hash=entry_hash))
        session.flush()
        return AuditRecord(seq, entry, moment, digest, prev_hash, entry_hash), True


def record(engine: Engine, entry: NewEntry) -> None:
    """Appends an entry the handoff service wrote about its own decision; never raises.

    The decision itself is already committed: a failure here is logged loudly, and must not undo
    it or break the request that made it.
    """
    try:
        append(engine, entry)
    except Exception:
        logger.exception("audit entry %s (%s) could not be written", entry.key, entry.kind)


# --- reading and verifying --------------------------------------------------------------
def for_conversation(engine: Engine, conversation_id: str, limit: int = 500) -> list[AuditRecord]:
    """A conversation's entries in the order they were logged, each checked against its hashes."""
    with Session(engine) as session:
        rows = session.execute(
            select(AuditEntry)
            .where(AuditEntry.conversation_id == conversation_id)
            .order_by(AuditEntry.seq)
            .limit(limit)
        ).scalars()
        return [_record(row) for row in rows]


def _head(session: Session) -> tuple[int, str]:
    head = session.execute(select(AuditHead.seq, AuditHead.entry_hash).where(AuditHead.id == 1)).first()
    return (0, GENESIS) if head is None else (int(head.seq), str(head.entry_hash))


def verify(engine: Engine, batch: int = 1000) -> Verification:
    """Walks the whole chain; the first entry that does not fit is returned with the reason.

    Entries appended while it runs are checked too; the walk ends at the head, which must be the
    last entry (entries removed from the end, or added past it, are found that way).
    """
    expected_seq, prev_hash, count, redacted = 1, GENESIS, 0, 0
    with Session(engine) as session:
        while True:
            head_seq, head_hash = _head(session)
            while expected_seq <= head_seq:
                rows = (
                    session.execute(
                        select(AuditEntry)
                        .where(AuditEntry.seq >= expected_seq, AuditEntry.seq <= head_seq)
                        .order_by(AuditEntry.seq)
                        .limit(batch)
                    )
                    .scalars()
                    .all()
                )
                if not rows:
                    reason = f"entries {expected_seq} to {head_seq} are missing from the end (deleted?)"
                    return Verification(count, prev_hash, Broken(head_seq, reason), redacted)
                for row in rows:
                    broken = _check(row, expected_seq, prev_hash)
                    if broken is not None:
                        return Verification(count, prev_hash, broken, redacted)
                    expected_seq, prev_hash, count = row.seq + 1, row.entry_hash, count + 1
                    redacted += row.redacted is not None
                session.expunge_all()
            if head_hash != prev_hash:
                reason = (
                    "the chain's head does not match its last entry (changed, or entries removed at the end)"
                )
                return Verification(count, prev_hash, Broken(head_seq, reason), redacted)
            beyond = session.execute(
                select(func.min(AuditEntry.seq)).where(AuditEntry.seq > head_seq)
            ).scalar()
            if beyond is None:
                return Verification(count, prev_hash, None, redacted)
            if _head(session)[0] < beyond:
                reason = "it lies beyond the chain's head (added outside the log?)"
                return Verification(count, prev_hash, Broken(int(beyond), reason), redacted)
            # Appended while we were walking: carry on to the new head.


def _check(row: Any, expected_seq: int, prev_hash: str) -> Broken | None:
    if row.seq != expected_seq:
        missing = (
            f"entry {expected_seq} is missing"
            if row.seq == expected_seq + 1
            else f"entries {expected_seq} to {row.seq - 1} are missing"
        )
        return Broken(row.seq, f"{missing} (deleted?): the chain jumps from {expected_seq - 1} to {row.seq}")
    if row.prev_hash != prev_hash:
        return Broken(
            row.seq, "its previous-hash does not match the entry before it (changed, replaced or reordered)"
        )
    problem = _problem(row)
    return Broken(row.seq, problem) if problem else None


# --- erasure and retention --------------------------------------------------------------
def redact(
    session: Session, rows: Iterable[Any], reason: str = "erasure", now: datetime | None = None
) -> int:
    """Empties the bodies of ``rows`` (AuditEntry rows of the caller's transaction); returns how many.

    The record and the hashes stay, so the chain still verifies and shows the redaction.
    """
    moment = now or datetime.now(timezone.utc)
    count = 0
    for row in rows:
        if row.redacted is not None:
            continue
        row.conversation_id, row.customer, row.summary = REDACTED, None, f"{REDACTED} ({reason})"
        row.explanation_json, row.inputs_json, row.sources_json = "{}", "{}", "[]"
        row.salt, row.redacted, row.redacted_at = None, reason, moment
        count += 1
    return count


def record_erasure(
    engine: Engine, tombstone: str, counts: dict[str, int], now: datetime | None = None
) -> None:
    """The one entry that remains of an erased customer: that it happened, under a one-way pseudonym."""
    moment = now or datetime.now(timezone.utc)
    record(
        engine,
        NewEntry(
            key=f"erasure:{tombstone}:{instant(moment)}",
            conversation_id=f"erasure:{tombstone}",
            customer=None,
            kind="erasure",
            actor=SERVICE_ACTOR,
            summary=f"Everything held about customer {tombstone} was erased on their request",
            explanation={
                "rule": "data-subject erasure request (attune privacy erase)",
                "audit_log": "entries about them were redacted: content removed, place and hashes kept",
            },
            inputs={"counts": dict(counts)},
            sources=("attune privacy erase",),
            opted_out=False,
            created_at=moment,
        ),
    )


def expire(engine: Engine, cutoff: datetime, now: datetime | None = None) -> int:
    """Redacts the bodies of entries decided before ``cutoff`` (the retention period); returns how many.

    Records the expiry as an entry of its own when anything was redacted.
    """
    moment = now or datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        rows = session.execute(
            select(AuditEntry).where(AuditEntry.created_at < cutoff, AuditEntry.redacted.is_(None))
        ).scalars()
        count = redact(session, rows, "retention", moment)
    if count:
        record(
            engine,
            NewEntry(
                key=f"retention:{instant(moment)}",
                conversation_id="retention",
                customer=None,
                kind="retention",
                actor=SERVICE_ACTOR,
                summary=f"{count} audit entries decided before {instant(cutoff)} redacted (retention period)",
                explanation={"rule": "audit entries keep their content for ATTUNE_RETENTION_AUDIT_DAYS"},
                inputs={"cutoff": instant(cutoff), "redacted": count},
                sources=("attune privacy purge",),
                opted_out=False,
                created_at=moment,
            ),
        )
    return count
