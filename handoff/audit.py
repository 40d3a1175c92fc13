"""The audit log of automated decisions ("right to explanation"): append, read, verify (no HTTP here).

Every tone change, escalation offer, handoff and call-back decision is one entry: what was decided
(``summary``), why (``explanation``), from which values (``inputs``) and data (``sources``), by whom
(``actor``) and when.  Entries are only ever appended.  Each stores

    entry_hash = sha256(prev_hash + canonical JSON of its content, seq included)

with the first one chaining from ``GENESIS``, so an edited, removed or reordered entry breaks the
chain at that point and ``verify`` names it.  ``seq`` is unique: two appends racing for the same
head cannot both win; the loser retries on the new head, so the chain never forks.

An entry for a customer who opted out of emotion analysis carries no emotional data: whatever a
writer sent, ``strip_emotional`` removes scores, emotion readings and score-bearing reasons first.
"""

import dataclasses
import hashlib
import json
import logging
import math
import random
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from handoff.db import as_utc
from handoff.errors import InvalidRequest
from handoff.models import AuditEntry

logger = logging.getLogger(__name__)

GENESIS = hashlib.sha256(b"attune audit log v1").hexdigest()
ENGINE_KINDS = ("tone_change", "offer_human", "offer_callback", "handoff")
SERVICE_KINDS = ("handoff_accepted", "callback_scheduled", "callback_placed", "callback_status")
KINDS = ENGINE_KINDS + SERVICE_KINDS
ENGINE, SERVICE = "empathy engine", "handoff service"
ACTORS = (ENGINE, SERVICE)
MAX_JSON_CHARS = 64_000
APPEND_ATTEMPTS = 1
# Keys that hold emotional data anywhere in an entry's explanation or inputs.
EMOTIONAL_KEYS = frozenset(
    {
        "frustration",
        "distress",
        "emotion",
        "emotions",
        "probabilities",
        "trajectory",
        "contributions",
        "tone",
        "previous_tone",
    }
)
# Text that states a score ("frustration 0.65 >= 0.6"): dropped whole from opted-out entries.
_SCORE_TEXT = re.compile(r"\b(frustration|distress|emotion)\w*\b[^.;\n]{0,40}?\d", re.IGNORECASE)
WITHHELD = "[withheld: the customer opted out of emotion analysis]"
WITHHELD_FOR_ROLE = "[withheld: distress indicators are not shown to your role]"


@dataclass(frozen=True)
class NewEntry:
    """A validated entry, before it gets its place in the chain."""

    key: str
    conversation_id: str
    customer: str | None
    kind: str
    actor: str
    summary: str
    explanation: dict[str, Any]
    inputs: dict[str, Any]
    sources: tuple[str, ...]
    opted_out: bool
    created_at: datetime


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    entry: NewEntry
    recorded_at: datetime
    prev_hash: str
    entry_hash: str
    # Whether the stored content still matches the stored hash (checked when read).
    intact: bool = True

    def withheld(self) -> "AuditRecord":
        """The record as shown to someone who may not see distress indicators (hashes unchanged)."""
        return dataclasses.replace(self, entry=strip_emotional(self.entry, opted_out=self.entry.opted_out))

    def to_dict(self) -> dict[str, Any]:
        return {
            **content(self.seq, self.entry, self.recorded_at),
            "prev_hash": self.prev_hash,
            "hash": self.entry_hash,
            "intact": self.intact,
        }


@dataclass(frozen=True)
class Broken:
    seq: int
    reason: str


@dataclass(frozen=True)
class Verification:
    count: int  # entries checked and found intact
    head: str  # the hash of the last intact entry (GENESIS for an empty log)
    broken: Broken | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


# --- the chain --------------------------------------------------------------------------
def instant(moment: datetime) -> str:
    """The one text form of a time inside the hash: UTC, microseconds."""
    return as_utc(moment).astimezone(timezone.utc).isoformat(timespec="microseconds")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def content(seq: int, entry: NewEntry, recorded_at: datetime) -> dict[str, Any]:
    """Everything the hash covers."""
    return {
        "seq": seq,
        "key": entry.key,
        "conversation_id": entry.conversation_id,
        "customer": entry.customer,
        "kind": entry.kind,
        "actor": entry.actor,
        "summary": entry.summary,
        "explanation": entry.explanation,
        "inputs": entry.inputs,
        "sources": list(entry.sources),
        "opted_out": entry.opted_out,
        "created_at": instant(entry.created_at),
        "recorded_at": instant(recorded_at),
    }


def chain_hash(prev_hash: str, body: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical(body)).encode("utf-8")).hexdigest()


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


def _record(row: Any) -> AuditRecord:
    entry = _entry(row)
    intact = chain_hash(row.prev_hash, content(row.seq, entry, row.recorded_at)) == row.entry_hash
    return AuditRecord(row.seq, entry, as_utc(row.recorded_at), row.prev_hash, row.entry_hash, intact)


# --- writing ----------------------------------------------------------------------------
def append(engine: Engine, entry: NewEntry, now: datetime | None = None) -> tuple[AuditRecord, bool]:
    """Adds ``entry`` at the head of the chain; returns it and whether it is new.

    An entry whose key is already stored is the same decision delivered again: the stored one is
    returned.  A lost race for the head (the unique ``seq``) or a busy SQLite file is retried.
    """
    if entry.opted_out:
        entry = strip_emotional(entry)
    for attempt in range(APPEND_ATTEMPTS):
        try:
            return _append_once(engine, entry, now)
        except (IntegrityError, OperationalError) as error:
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
        head = session.execute(
            select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)
        ).scalar_one_or_none()
        seq = 1 if head is None else head.seq + 1
        prev_hash = GENESIS if head is None else head.entry_hash
        body = content(seq, entry, moment)
        row = AuditEntry(
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
            prev_hash=prev_hash,
            entry_hash=chain_hash(prev_hash, body),
        )
        session.add(row)
        session.flush()
        return AuditRecord(seq, entry, moment, prev_hash, row.entry_hash), True


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
    """A conversation's entries in the order they were logged, each checked against its own hash."""
    with Session(engine) as session:
        rows = session.execute(
            select(AuditEntry)
            .where(AuditEntry.conversation_id == conversation_id)
            .order_by(AuditEntry.seq)
            .limit(limit)
        ).scalars()
        return [_record(row) for row in rows]


def verify(engine: Engine, batch: int = 1000) -> Verification:
    """Walks the whole chain; the first entry that does not fit is returned with the reason."""
    expected_seq, prev_hash, count = 1, GENESIS, 0
    with Session(engine) as session:
        while True:
            rows = (
                session.execute(
                    select(AuditEntry)
                    .where(AuditEntry.seq >= expected_seq)
                    .order_by(AuditEntry.seq)
                    .limit(batch)
                )
                .scalars()
                .all()
            )
            if not rows:
                return Verification(count, prev_hash)
            for row in rows:
                broken = _check(row, expected_seq, prev_hash)
                if broken is not None:
                    return Verification(count, prev_hash, broken)
                expected_seq, prev_hash, count = row.seq + 1, row.entry_hash, count + 1
            session.expunge_all()


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
    try:
        intact = _record(row).intact
    except (ValueError, TypeError) as error:
        return Broken(row.seq, f"its stored content is unreadable ({error})")
    if not intact:
        return Broken(row.seq, "its content does not match its hash (edited after it was written)")
    return None


# --- validation -------------------------------------------------------------------------
def strip_emotional(entry: NewEntry, opted_out: bool = True) -> NewEntry:
    """The entry without emotional data: for customers who opted out of emotion analysis (and, with
    ``opted_out=False``, for showing to a role that may not see distress indicators)."""
    note = WITHHELD if opted_out else WITHHELD_FOR_ROLE
    return NewEntry(
        key=entry.key,
        conversation_id=entry.conversation_id,
        customer=entry.customer,
        kind=entry.kind,
        actor=entry.actor,
        summary=f"{entry.kind.replace('_', ' ')} {note}"
        if _SCORE_TEXT.search(entry.summary)
        else entry.summary,
        explanation=_without_emotion(entry.explanation, note),
        inputs=_without_emotion(entry.inputs, note),
        sources=entry.sources,
        opted_out=opted_out,
        created_at=entry.created_at,
    )


def _without_emotion(value: Any, note: str) -> Any:
    if isinstance(value, dict):
        return {k: _without_emotion(v, note) for k, v in value.items() if k not in EMOTIONAL_KEYS}
    if isinstance(value, list):
        return [
            _without_emotion(v, note) for v in value if not (isinstance(v, str) and _SCORE_TEXT.search(v))
        ]
    if isinstance(value, str) and _SCORE_TEXT.search(value):
        return note
    return value


def _text(document: dict[str, Any], name: str, limit: int, required: bool = True) -> str | None:
    value = document.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{name} must be a non-empty string")
    if len(value) > limit:
        raise InvalidRequest(f"{name} must be at most {limit} characters")
    return value


def _json_object(document: dict[str, Any], name: str) -> dict[str, Any]:
    value = document.get(name, {})
    if not isinstance(value, dict):
        raise InvalidRequest(f"{name} must be a JSON object")
    try:
        size = len(canonical(value))
    except ValueError as error:
        raise InvalidRequest(f"{name} holds a value JSON cannot carry exactly ({error})") from error
    if size > MAX_JSON_CHARS:
        raise InvalidRequest(f"{name} must be at most {MAX_JSON_CHARS} characters of JSON")
    return value


def _moment(document: dict[str, Any]) -> datetime:
    value = document.get("created_at")
    if value is None:
        return datetime.now(timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(float(value), timezone.utc)
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as error:
        raise InvalidRequest("created_at must be an ISO 8601 time with its offset") from error
    if moment.tzinfo is None:
        raise InvalidRequest("created_at must carry its UTC offset")
    return moment.astimezone(timezone.utc)


def parse_entry(
    document: object, kinds: tuple[str, ...] = KINDS, actors: tuple[str, ...] = ACTORS
) -> NewEntry:
    """A ``NewEntry`` from a JSON document, or InvalidRequest naming the field at fault."""
    if not isinstance(document, dict):
        raise InvalidRequest("send one audit entry as a JSON object")
    kind = _text(document, "kind", 32)
    if kind not in kinds:
        raise InvalidRequest(f"kind must be one of {', '.join(kinds)}")
    actor = _text(document, "actor", 32)
    if actor not in actors:
        raise InvalidRequest(f"actor must be one of {', '.join(actors)}")
    sources = document.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, str) and len(s) <= 200 for s in sources):
        raise InvalidRequest("sources must be a list of strings (each at most 200 characters)")
    opted_out = document.get("opted_out", False)
    if not isinstance(opted_out, bool):
        raise InvalidRequest("opted_out must be true or false")
    return NewEntry(
        key=str(_text(document, "key", 128)),
        conversation_id=str(_text(document, "conversation_id", 255)),
        customer=_text(document, "customer", 64, required=False),
        kind=str(kind),
        actor=str(actor),
        summary=str(_text(document, "summary", 2000)),
        explanation=_json_object(document, "explanation"),
        inputs=_json_object(document, "inputs"),
        sources=tuple(sources),
        opted_out=opted_out,
        created_at=_moment(document),
    )
