"""A supervisor gives a queued (unclaimed) handoff to an agent: the claim made on the agent's behalf.

Only roles with the workspace policy's ``reassign`` may (the view checks it before anything else).
The move is one conditional UPDATE (``WHERE status = 'queued'`` and the agent is under capacity,
handoff/queue/handoffs.py ``under_capacity``): of an agent's own claim and an assignment racing for
one handoff exactly one wins, the other gets a Conflict with the reason.  It is recorded as a
transfer from nobody (``handoff_transfers.from_agent`` NULL) and in the audit log (kind
``handoff_assigned``).  The caller pauses the bot next, and undoes the assignment if it cannot.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.audit import audit_log
from handoff.core.models import CLAIMED, QUEUED, RESOLVED, Agent, Handoff, HandoffTransfer
from handoff.queue.handoffs import at_capacity, get_handoff, lock_agent, under_capacity
from handoff.shared.audit_entry import SERVICE_ACTOR, NewEntry
from handoff.shared.errors import Conflict, InvalidRequest
from handoff.workspace.text import checked
from handoff.workspace.transfers import MAX_TRANSFER_NOTE_CHARS

logger = logging.getLogger(__name__)

AUDIT_KIND: Final = "handoff_assigned"
RULE: Final = (
    "roles with the workspace policy's reassign may give a queued handoff to an active agent "
    "who holds fewer handoffs than their capacity; the bot is paused as on a claim"
)


@dataclass(frozen=True)
class Assignment:
    handoff_id: str
    conversation_id: str
    to_id: int
    to_name: str
    created_at: datetime


def assign(engine: Engine, handoff_id: str, by_agent: int, to_agent: int, note: str | None) -> Assignment:
    """Gives the queued handoff to ``to_agent``; InvalidRequest, NotFound or Conflict say why not."""
    text = checked(note, "the note", MAX_TRANSFER_NOTE_CHARS, required=False) or None
    stored = get_handoff(engine, handoff_id)  # NotFound first: nothing is said about agents then
    moment = datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        target = session.get(Agent, to_agent)
        if target is None or target.disabled_at is not None:
            raise InvalidRequest("assign to an active agent: no active agent has that id")
        names = (target.username, _username(session, by_agent), target.display_name)
        lock_agent(session, to_agent)
        moved = session.execute(
            update(Handoff)
            .where(Handoff.id == handoff_id, Handoff.status == QUEUED, under_capacity(to_agent))
            .values(status=CLAIMED, claimed_by=to_agent, claimed_at=moment, agent_seen_at=moment)
            # The capacity's subquery cannot be evaluated in Python; nothing in this session needs syncing.
            .execution_options(synchronize_session=False)
        ).rowcount
        if moved:
            session.add(
                HandoffTransfer(
                    handoff_id=handoff_id,
                    from_agent=None,
                    to_agent=to_agent,
                    by_agent=by_agent,
                    note=text,
                    created_at=moment,
                )
            )
    if not moved:
        raise _refusal(engine, handoff_id, to_agent)
    done = Assignment(handoff_id, stored.conversation_id, to_agent, names[2], moment)
    _audit(engine, done, names[0], names[1], stored.payload.get("customer"), len(text or ""))
    return done


def _refusal(engine: Engine, handoff_id: str, to_agent: int) -> Conflict:
    status = get_handoff(engine, handoff_id).status
    if status == RESOLVED:
        return Conflict("this handoff is already resolved")
    if status == CLAIMED:
        return Conflict("an agent holds this handoff already (transfer it instead)")
    return Conflict(at_capacity(engine, to_agent, "that agent holds"))


def _username(session: Session, agent_id: int) -> str:
    agent = session.get(Agent, agent_id)
    return str(agent.username) if agent is not None else "?"


def _audit(engine: Engine, done: Assignment, to: str, by: str, customer: object, note_chars: int) -> None:
    pseudonym = customer.get("pseudonym") if isinstance(customer, dict) else None
    entry = NewEntry(
        key=f"{AUDIT_KIND}:{uuid.uuid4()}",
        conversation_id=done.conversation_id,
        customer=pseudonym if isinstance(pseudonym, str) else None,
        kind=AUDIT_KIND,
        actor=SERVICE_ACTOR,
        summary=f"Handoff {done.handoff_id} assigned to agent:{to} by agent:{by}",
        explanation={"rule": RULE},
        inputs={"handoff": done.handoff_id, "to": to, "by": by, "note_chars": note_chars},
        sources=("agent console",),
        opted_out=False,
        created_at=done.created_at,
    )
    audit_log.record(engine, entry)  # never raises: the assignment stands


def undo(engine: Engine, handoff_id: str, to_agent: int) -> bool:
    """Back to the queue (the bot could not be paused), unless it changed hands meanwhile."""
    with Session(engine) as session, session.begin():
        return bool(
            session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.status == CLAIMED, Handoff.claimed_by == to_agent)
                .values(status=QUEUED, claimed_by=None, claimed_at=None, agent_seen_at=None)
            ).rowcount
        )
