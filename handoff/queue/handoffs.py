"""Storing and reading handoffs: the service functions behind the handoff API (no HTTP here)."""

import json
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from handoff.audit import audit_events
from handoff.callbacks import call_jobs
from handoff.core import json_body
from handoff.core.db import as_utc
from handoff.core.models import CLAIMED, QUEUED, RESOLVED, Agent, Handoff, HandoffStatus
from handoff.queue import webhooks
from handoff.shared import payload_contract
from handoff.shared.errors import Conflict, HandoffError, IdempotencyKeyReused, InvalidRequest, NotFound
from handoff.shared.payload_contract import ContractError, HandoffPayload, validate_payload

PRIORITY_RANK = {"normal": 0, "high": 1, "urgent": 2}
# The human part of a conversation kept with a resolved handoff: the payload transcript's bounds.
MAX_HUMAN_LINES = 2000
MAX_LINE_CHARS = 20_000
SPEAKERS = ("customer", "agent", "bot")


@dataclass(frozen=True)
class StoredHandoff:
    id: str
    conversation_id: str
    status: HandoffStatus
    priority: str
    reason: str
    created_at: datetime
    payload: dict[str, Any]
    claimed_by: int | None = None
    # Why the stored payload does not follow the contract (stored before a check existed); the parts
    # that do are in ``payload``.  None for every handoff accepted since.
    problem: str | None = None
    # Once resolved: when, by whom (the agent's name), and what was said while a person had it
    # (None when it was not kept: resolved before migration 0015, or Rasa did not answer).
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    human_transcript: list[dict[str, Any]] | None = None

    def to_dict(self, with_payload: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "status": self.status,
            "priority": self.priority,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
        }
        if with_payload:
            data["payload"] = self.payload
            if self.problem is not None:
                data["payload_problem"] = self.problem
            if self.status == RESOLVED:
                data["resolution"] = {
                    "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
                    "resolved_by": self.resolved_by,
                    "transcript": self.human_transcript,
                }
        return data


def raw_payload(text: str) -> tuple[Any, str | None]:
    """A stored payload's JSON (NaN read, depth bounded), or None and why it cannot be read."""
    try:
        return json_body.loads(text, allow_constants=True), None
    except HandoffError as error:
        return None, f"the stored payload cannot be read: {error.detail}"


def stored_payload(text: str) -> tuple[dict[str, Any], str | None]:
    """A stored payload as far as it follows the contract, and what is wrong with the rest.

    Every handoff accepted now follows it; ones stored before a check existed (a NaN in the
    trajectory, an explanation 900 levels deep) are shown without the fields that do not.
    """
    document, unreadable = raw_payload(text)
    if unreadable is not None:
        return {}, unreadable
    return payload_contract.salvage(document)


def _stored(row: Any, checked: bool = True, resolver: str | None = None) -> StoredHandoff:
    """The row as a StoredHandoff; ``checked=False`` (queue listings, which show only the summary)
    skips the contract check of the payload.
    """
    if checked:
        payload, problem = stored_payload(row.payload)
    else:
        document, problem = raw_payload(row.payload)
        payload = document if isinstance(document, dict) else {}
    return StoredHandoff(
        id=row.id,
        conversation_id=row.conversation_id,
        status=row.status,
        priority=str(payload.get("priority", "normal")),
        reason=row.reason,
        created_at=as_utc(row.created_at),
        payload=payload,
        claimed_by=row.claimed_by,
        problem=problem,
        resolved_at=_aware(row.resolved_at),
        resolved_by=resolver,
        human_transcript=_human_lines(row.human_transcript),
    )


def _human_lines(text: str | None) -> list[dict[str, Any]] | None:
    """The stored human part of a conversation (None when none was kept, or it cannot be read)."""
    if text is None:
        return None
    document, unreadable = raw_payload(text)
    if unreadable is not None or not isinstance(document, list):
        return None
    return [line for line in document if isinstance(line, dict)]


def accept_handoff(
    engine: Engine,
    document: object,
    webhook_urls: tuple[str, ...] = (),
    call_policy: call_jobs.CallPolicy = call_jobs.DEFAULT_POLICY,
    on_outcome: call_jobs.OnOutcome | None = None,
) -> tuple[StoredHandoff, bool]:
    """Validates and stores a handoff; returns it and whether it was new.

    A payload whose idempotency key was seen before is the same handoff delivered again (a retry):
    the stored one is returned and nothing changes, if the bodies are equal without their volatile
    fields (``payload_contract.VOLATILE_FIELDS``); a different body under a used key is IdempotencyKeyReused.
    A call-back the customer agreed to becomes a call job in the same transaction; its phone number
    is kept only there, not in the stored payload.
    """
    try:
        payload: HandoffPayload = validate_payload(document)
    except ContractError as error:
        raise InvalidRequest(f"payload does not follow schema_version 1: {error}") from error
    key, body_hash = payload["idempotency_key"], payload_contract.fingerprint(payload)
    existing = _retry_of(engine, key, payload, body_hash)
    if existing is not None:
        return existing, False
    callback = dict(payload.get("callback") or {})
    phone = callback.pop("phone", None)
    if payload.get("callback") is not None:
        payload["callback"] = callback
    row = Handoff(
        id=str(uuid.uuid4()),
        conversation_id=payload["conversation_id"],
        idempotency_key=key,
        body_hash=body_hash,
        status=QUEUED,
        priority=PRIORITY_RANK[payload["priority"]],
        reason=payload["reason"],
        payload=json.dumps(payload, ensure_ascii=False),
    )
    try:
        with Session(engine) as session, session.begin():
            session.add(row)
            session.flush()
            if phone and callback.get("requested"):
                window = callback.get("window") or {}
                call_jobs.new_job(
                    session,
                    row.id,
                    str(phone),
                    f"callback-{key}",
                    call_policy,
                    customer=payload["customer"]["pseudonym"],
                    not_before=_instant(window.get("start")),
                    window_end=_instant(window.get("end")),
                    on_outcome=on_outcome,
                )
            webhooks.enqueue(session, row.id, webhook_urls)
    except IntegrityError:
        # Two deliveries of the same handoff raced; the other one won and is the handoff.
        winner = _retry_of(engine, key, payload, body_hash)
        if winner is None:
            raise
        return winner, False
    stored = find_by_key(engine, key)
    assert stored is not None
    audit_events.handoff_accepted(engine, stored.id)  # and its call-back job, if any
    return stored, True


def _instant(text: object) -> datetime | None:
    """An RFC 3339 time from the (validated) payload, in UTC: SQLite keeps no offsets."""
    return payload_contract.parse_date_time(text) if isinstance(text, str) and text else None


def _retry_of(engine: Engine, key: str, payload: HandoffPayload, body_hash: str) -> StoredHandoff | None:
    """The handoff stored under ``key`` if ``payload`` is a retry of it; None if the key is new.

    Rows stored before bodies were fingerprinted are compared with their stored payload (which never
    holds the call-back number), and taken as the same when retention has since rewritten them.
    """
    with Session(engine) as session:
        row = session.execute(select(Handoff).where(Handoff.idempotency_key == key)).scalar_one_or_none()
        if row is None:
            return None
        stored = _stored(row)
        if row.body_hash is not None:
            same = row.body_hash == body_hash
        else:
            same = _same_as_stored(row.payload, payload)
    if not same:
        raise IdempotencyKeyReused(
            f"idempotency key {key!r} was already used for a different handoff ({stored.id}); "
            f"bodies are compared without {', '.join(sorted(payload_contract.VOLATILE_FIELDS))}: "
            "send a retry unchanged, and a new handoff with a new key"
        )
    return stored


def _same_as_stored(text: str, payload: HandoffPayload) -> bool:
    document, unreadable = raw_payload(text)
    if unreadable is not None or not isinstance(document, dict):
        return False
    if "retention_note" in document:
        return True
    sent: dict[str, Any] = dict(payload)
    if isinstance(sent.get("callback"), dict):
        sent["callback"] = {k: v for k, v in sent["callback"].items() if k != "phone"}
    try:
        return payload_contract.fingerprint(sent) == payload_contract.fingerprint(document)
    except ValueError:  # a NaN stored before they were refused: not the body sent now
        return False


def find_by_key(engine: Engine, key: str) -> StoredHandoff | None:
    with Session(engine) as session:
        row = session.execute(select(Handoff).where(Handoff.idempotency_key == key)).scalar_one_or_none()
        return _stored(row) if row is not None else None


def get_handoff(engine: Engine, handoff_id: str) -> StoredHandoff:
    with Session(engine) as session:
        row = session.get(Handoff, handoff_id)
        if row is None:
            raise NotFound(f"no handoff {handoff_id!r}")
        agent = session.get(Agent, row.resolved_by) if row.resolved_by is not None else None
        return _stored(row, resolver=agent.display_name if agent is not None else None)


def list_queue(engine: Engine, status: HandoffStatus = QUEUED, limit: int = 100) -> list[StoredHandoff]:
    """Handoffs in ``status``, most urgent first, then longest waiting."""
    with Session(engine) as session:
        rows = session.execute(
            select(Handoff)
            .where(Handoff.status == status)
            .order_by(Handoff.priority.desc(), Handoff.created_at.asc())
            .limit(limit)
        ).scalars()
        return [_stored(row, checked=False) for row in rows]


def _aware(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment is not None else None


def claim(
    engine: Engine, handoff_id: str, agent_id: int, now: datetime | None = None
) -> tuple[StoredHandoff, bool]:
    """Gives a queued handoff to ``agent_id``: the handoff and whether this call took it.

    One conditional UPDATE (``WHERE status = 'queued'`` and the agent holds fewer handoffs than their
    capacity), so of two agents claiming at once exactly one gets it, and an agent's claims never
    exceed their capacity.  False when the agent already holds it; Conflict when another agent does,
    it is resolved, or the agent is at capacity.
    """
    moment = now or datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        lock_agent(session, agent_id)
        taken = session.execute(
            update(Handoff)
            .where(Handoff.id == handoff_id, Handoff.status == QUEUED, under_capacity(agent_id))
            .values(status=CLAIMED, claimed_by=agent_id, claimed_at=moment, agent_seen_at=moment)
            # The capacity's subquery cannot be evaluated in Python; nothing in this session needs syncing.
            .execution_options(synchronize_session=False)
        ).rowcount
    stored = get_handoff(engine, handoff_id)  # NotFound for an unknown id
    if taken:
        return stored, True
    if stored.status == RESOLVED:
        raise Conflict("this handoff is already resolved")
    if stored.status == QUEUED:
        raise Conflict(at_capacity(engine, agent_id, "you hold"))
    if stored.claimed_by != agent_id:
        raise Conflict("another agent has claimed this handoff")
    return stored, False


def under_capacity(agent_id: int) -> ColumnElement[bool]:
    """For a conditional UPDATE of handoffs: ``agent_id`` holds fewer handoffs than their capacity."""
    held = aliased(Handoff)  # not the updated row: every handoff the agent holds
    load = (
        select(func.count())
        .select_from(held)
        .where(held.status == CLAIMED, held.claimed_by == agent_id)
        .scalar_subquery()
    )
    capacity = select(Agent.capacity).where(Agent.id == agent_id).scalar_subquery()
    return load < capacity


def lock_agent(session: Session, agent_id: int) -> None:
    """Postgres: the agent's row locked until commit, so two claims for one agent take turns and the
    capacity check of the second sees the first.  SQLite's single writer serialises them already.
    """
    bind = session.get_bind()
    if bind.dialect.name != "sqlite":
        session.execute(select(Agent.id).where(Agent.id == agent_id).with_for_update())


def at_capacity(engine: Engine, agent_id: int, who: str) -> str:
    """Why a claim or an assignment to ``agent_id`` was refused: their load and capacity."""
    with Session(engine) as session:
        capacity = session.execute(select(Agent.capacity).where(Agent.id == agent_id)).scalar_one_or_none()
        load = session.execute(
            select(func.count())
            .select_from(Handoff)
            .where(Handoff.status == CLAIMED, Handoff.claimed_by == agent_id)
        ).scalar_one()
    return (
        f"{who} {load} handoff(s) and the capacity is {capacity if capacity is not None else 0}: "
        "resolve or transfer one first (a supervisor sets capacities on the team page)"
    )


def unclaim(engine: Engine, handoff_id: str, agent_id: int) -> bool:
    """Undoes ``agent_id``'s claim (Rasa could not be paused): back to the queue.  Nobody else's claim
    is touched, and a handoff the agent no longer holds stays as it is.
    """
    with Session(engine) as session, session.begin():
        return bool(
            session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.status == CLAIMED, Handoff.claimed_by == agent_id)
                .values(status=QUEUED, claimed_by=None, claimed_at=None, agent_seen_at=None)
            ).rowcount
        )


def _not_held(engine: Engine, handoff_id: str) -> HandoffError:
    """Why ``handoff_id`` is not the agent's: NotFound, or Conflict."""
    with Session(engine) as session:
        if session.get(Handoff, handoff_id) is None:
            return NotFound(f"no handoff {handoff_id!r}")
    return Conflict("claim this handoff first (or it was returned to the queue, or another agent holds it)")


def _update_held(engine: Engine, handoff_id: str, agent_id: int, **values: Any) -> StoredHandoff:
    """Sets ``values`` on the handoff only if ``agent_id`` holds it (one conditional UPDATE)."""
    with Session(engine) as session, session.begin():
        changed = session.execute(
            update(Handoff)
            .where(Handoff.id == handoff_id, Handoff.status == CLAIMED, Handoff.claimed_by == agent_id)
            .values(**values)
        ).rowcount
    if not changed:
        raise _not_held(engine, handoff_id)
    return get_handoff(engine, handoff_id)


def check_in(engine: Engine, handoff_id: str, agent_id: int, now: datetime | None = None) -> StoredHandoff:
    """The agent's console is still there: keeps the claim alive (Conflict if it is not theirs)."""
    return _update_held(engine, handoff_id, agent_id, agent_seen_at=now or datetime.now(timezone.utc))


def resolve(engine: Engine, handoff_id: str, agent_id: int, now: datetime | None = None) -> StoredHandoff:
    """Resolves a handoff ``agent_id`` holds (Conflict if another agent holds it, or nobody)."""
    return _update_held(
        engine,
        handoff_id,
        agent_id,
        status=RESOLVED,
        resolved_at=now or datetime.now(timezone.utc),
        resolved_by=agent_id,
    )


def keep_human_part(engine: Engine, handoff_id: str, agent_id: int, lines: list[dict[str, Any]]) -> bool:
    """Stores what was said while ``agent_id`` had the handoff (``RasaClient.human_part``) with the
    handoff they resolved; once, and only by them.  Each line is checked and bounded like the payload's
    transcript: a speaker, a text, an RFC 3339 time or None.
    """
    kept = [_human_line(line) for line in lines[-MAX_HUMAN_LINES:]]
    with Session(engine) as session, session.begin():
        return bool(
            session.execute(
                update(Handoff)
                .where(
                    Handoff.id == handoff_id,
                    Handoff.status == RESOLVED,
                    Handoff.resolved_by == agent_id,
                    Handoff.human_transcript.is_(None),
                )
                .values(human_transcript=json.dumps(kept, ensure_ascii=False))
            ).rowcount
        )


def _human_line(line: dict[str, Any]) -> dict[str, Any]:
    speaker = line.get("speaker")
    text = line.get("text")
    return {
        "speaker": speaker if speaker in SPEAKERS else "bot",
        "text": text[:MAX_LINE_CHARS] if isinstance(text, str) else "",
        "at": _epoch_time(line.get("at")),
    }


def _epoch_time(value: object) -> str | None:
    """Rasa's event timestamp (seconds since the epoch) as RFC 3339 in UTC; None if it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    try:
        return datetime.fromtimestamp(float(value), timezone.utc).isoformat()
    except (OverflowError, OSError, ValueError):
        return None


def reopen(engine: Engine, handoff_id: str, agent_id: int, now: datetime | None = None) -> None:
    """Undoes ``agent_id``'s resolution (Rasa could not be resumed): the handoff is theirs again."""
    moment = now or datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        session.execute(
            update(Handoff)
            .where(Handoff.id == handoff_id, Handoff.status == RESOLVED, Handoff.claimed_by == agent_id)
            .values(status=CLAIMED, resolved_at=None, resolved_by=None, agent_seen_at=moment)
        )


def release_stale_claims(engine: Engine, timeout: timedelta, now: datetime | None = None) -> list[str]:
    """Claims whose console went silent for ``timeout`` go back to the queue; returns their ids."""
    moment = now or datetime.now(timezone.utc)
    released = []
    with Session(engine) as session, session.begin():
        for row in session.execute(select(Handoff).where(Handoff.status == CLAIMED)).scalars():
            seen = _aware(row.agent_seen_at) or _aware(row.claimed_at)
            if seen is None or moment - seen > timeout:
                row.status, row.claimed_by, row.claimed_at, row.agent_seen_at = QUEUED, None, None, None
                released.append(row.id)
    return released


def queue_depth(engine: Engine) -> dict[str, int]:
    """How many handoffs wait for an agent, by priority (every priority, 0 when none)."""
    names = {rank: name for name, rank in PRIORITY_RANK.items()}
    depth = dict.fromkeys(PRIORITY_RANK, 0)
    with Session(engine) as session:
        rows = session.execute(
            select(Handoff.priority, func.count()).where(Handoff.status == QUEUED).group_by(Handoff.priority)
        ).all()
    for rank, count in rows:
        depth[names.get(rank, "normal")] += int(count)
    return depth


def queue_position(engine: Engine, handoff_id: str) -> int | None:
    """1 for the next handoff to be taken; None once it is claimed or resolved."""
    with Session(engine) as session:
        row = session.get(Handoff, handoff_id)
        if row is None:
            raise NotFound(f"no handoff {handoff_id!r}")
        if row.status != QUEUED:
            return None
        ahead = session.execute(
            select(func.count())
            .select_from(Handoff)
            .where(
                Handoff.status == QUEUED,
                Handoff.id != row.id,
                or_(
                    Handoff.priority > row.priority,
                    and_(Handoff.priority == row.priority, Handoff.created_at <= row.created_at),
                ),
            )
        ).scalar_one()
        return 1 + int(ahead)


def overdue(engine: Engine, max_wait: timedelta, now: datetime | None = None) -> list[tuple[str, str, int]]:
    """Queued handoffs past ``max_wait`` whose customer was not told yet: (id, conversation, position)."""
    moment = now or datetime.now(timezone.utc)
    with Session(engine) as session:
        rows = session.execute(
            select(Handoff.id, Handoff.conversation_id, Handoff.created_at).where(
                Handoff.status == QUEUED, Handoff.wait_notice_at.is_(None)
            )
        ).all()
    late = [(i, c) for i, c, created in rows if moment - (_aware(created) or moment) > max_wait]
    return [(i, c, queue_position(engine, i) or 1) for i, c in late]


def mark_wait_notice(engine: Engine, handoff_id: str, now: datetime | None = None) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(Handoff, handoff_id)
        if row is not None:
            row.wait_notice_at = now or datetime.now(timezone.utc)
