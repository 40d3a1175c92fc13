"""Transfer a held handoff to a colleague, with a note.

The holder may give their handoff to any active colleague; a role with the workspace policy's
``reassign`` may move a handoff someone else holds.  The move is one conditional UPDATE on the
holder that was checked (``WHERE claimed_by = <that holder>``), so of two people moving the same
handoff at once exactly one wins and the other gets a Conflict.  The bot stays paused (the handoff
stays claimed); the new holder's console takes over the claim's check-ins.  Each transfer is
recorded in ``handoff_transfers`` and in the audit log (kind ``handoff_transferred``).
"""

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, aliased

from handoff.audit import audit_log
from handoff.core.db import as_utc
from handoff.core.models import CLAIMED, Agent, Handoff, HandoffTransfer
from handoff.shared.audit_entry import SERVICE_ACTOR, NewEntry
from handoff.shared.errors import Conflict, InvalidRequest, NotFound
from handoff.workspace.text import checked

logger = logging.getLogger(__name__)

MAX_TRANSFER_NOTE_CHARS: Final = 1000
AUDIT_KIND: Final = "handoff_transferred"
RULE: Final = (
    "the agent holding a handoff may give it to an active colleague; roles with the workspace policy's "
    "reassign may move one another agent holds; the bot stays paused"
)


@dataclass(frozen=True)
class Transfer:
    handoff_id: str
    conversation_id: str
    from_name: str | None
    to_name: str
    by_name: str
    note: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.from_name,
            "to": self.to_name,
            "by": self.by_name,
            "note": self.note,
            "created_at": self.created_at.isoformat(),
        }


def _target(session: Session, to_agent: int) -> Any:
    agent = session.get(Agent, to_agent)
    if agent is None or agent.disabled_at is not None:
        raise InvalidRequest("transfer to an active colleague: no active agent has that id")
    return agent


def transfer(
    engine: Engine, handoff_id: str, by_agent: int, to_agent: int, note: str | None, may_reassign: bool
) -> Transfer:
    """Moves the claimed handoff to ``to_agent``; InvalidRequest, NotFound or Conflict say why not."""
    text = checked(note, "the transfer note", MAX_TRANSFER_NOTE_CHARS, required=False) or None
    moment = datetime.now(timezone.utc)
    with Session(engine) as session:  # what is checked; the move below is conditional on it
        row = session.get(Handoff, handoff_id)
        if row is None:
            raise NotFound(f"no handoff {handoff_id!r}")
        holder, conversation, customer = row.claimed_by, row.conversation_id, _pseudonym(row.payload)
        if row.status != CLAIMED or holder is None:
            raise Conflict("only a claimed handoff can be transferred (claim it first)")
        if holder != by_agent and not may_reassign:
            raise Conflict("another agent holds this handoff; your role may not reassign it")
        target = _target(session, to_agent)
        if target.id == holder:
            raise Conflict("that colleague already holds this handoff")
        names = _names(session, holder, by_agent)
        usernames = (_username(session, holder), target.username, _username(session, by_agent))
        done = Transfer(handoff_id, conversation, names[0], target.display_name, names[1], text, moment)
    with Session(engine) as session, session.begin():
        moved = session.execute(
            update(Handoff)
            .where(Handoff.id == handoff_id, Handoff.status == CLAIMED, Handoff.claimed_by == holder)
            .values(claimed_by=to_agent, claimed_at=moment, agent_seen_at=moment)
        ).rowcount
        if not moved:  # someone else moved, resolved or released it since it was read
            raise Conflict("the handoff changed hands meanwhile; reload it")
        session.add(
            HandoffTransfer(
                handoff_id=handoff_id,
                from_agent=holder,
                to_agent=to_agent,
                by_agent=by_agent,
                note=text,
                created_at=moment,
            )
        )
    _audit(engine, done, usernames, customer)
    return done


def _names(session: Session, holder: int, by_agent: int) -> tuple[str | None, str]:
    def name(agent_id: int) -> str | None:
        agent = session.get(Agent, agent_id)
        return agent.display_name if agent is not None else None

    return name(holder), name(by_agent) or "?"


def _username(session: Session, agent_id: int) -> str:
    agent = session.get(Agent, agent_id)
    return agent.username if agent is not None else "?"


def _pseudonym(payload: str) -> str | None:
    try:
        customer = json.loads(payload).get("customer") or {}
    except (ValueError, AttributeError):
        return None
    pseudonym = customer.get("pseudonym") if isinstance(customer, dict) else None
    return pseudonym if isinstance(pseudonym, str) else None


def _audit(engine: Engine, done: Transfer, usernames: tuple[str, str, str], customer: str | None) -> None:
    """The transfer as an audit entry (who, to whom, by whom); the note's words stay out of the log."""
    source, target, by = usernames
    entry = NewEntry(
        key=f"{AUDIT_KIND}:{uuid.uuid4()}",
        conversation_id=done.conversation_id,
        customer=customer,
        kind=AUDIT_KIND,
        actor=SERVICE_ACTOR,
        summary=f"Handoff {done.handoff_id} transferred from agent:{source} to agent:{target} by agent:{by}",
        explanation={"rule": RULE},
        inputs={
            "handoff": done.handoff_id,
            "from": source,
            "to": target,
            "by": by,
            "note_chars": len(done.note or ""),
        },
        sources=("agent console",),
        opted_out=False,
        created_at=done.created_at,
    )
    audit_log.record(engine, entry)  # never raises: the transfer stands


def history(engine: Engine, handoff_id: str) -> list[Transfer]:
    source, target, by = aliased(Agent), aliased(Agent), aliased(Agent)
    with Session(engine) as session:
        rows = session.execute(
            select(HandoffTransfer, source.display_name, target.display_name, by.display_name)
            .outerjoin(source, source.id == HandoffTransfer.from_agent)
            .join(target, target.id == HandoffTransfer.to_agent)
            .join(by, by.id == HandoffTransfer.by_agent)
            .where(HandoffTransfer.handoff_id == handoff_id)
            .order_by(HandoffTransfer.id)
        ).all()
    return [
        Transfer(handoff_id, "", from_name, to_name, by_name or "?", t.note, as_utc(t.created_at))
        for t, from_name, to_name, by_name in rows
    ]
