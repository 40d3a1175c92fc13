"""The queue's live events, found by polling the database: any instance of the service sees every change.

While at least one console listens (``LiveHub.listening``), the watcher reads the open handoffs' ids,
statuses and holders every ``POLL_SECONDS`` (or at once when this process changed one: ``LiveHub.wake``),
compares them with the previous read and publishes what changed on the ``queue`` topic:

- ``queued`` a handoff that was not open before (``new: true``), or one whose claim was undone or timed out;
- ``claimed`` a handoff an agent took (``claimed_by``: the agent's id);
- ``closed`` a handoff that is no longer open (``status``: resolved, or gone after retention).

A change made on another instance is seen within ``POLL_SECONDS``; one made here at once.  The read is one
indexed-free scan of the open handoffs' small columns (the payload is read only for a handoff that changed),
so it stays cheap next to the 10 000 stored handoffs the console is sized for.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.core.db import as_utc
from handoff.core.live_hub import QUEUE, LiveHub
from handoff.core.models import CLAIMED, QUEUED, Handoff
from handoff.queue.handoffs import PRIORITY_RANK, raw_payload

logger = logging.getLogger(__name__)
POLL_SECONDS = 0.25
MAX_OPEN = 1000  # the console lists at most this many open handoffs
PRIORITY_NAMES = {rank: name for name, rank in PRIORITY_RANK.items()}

State = tuple[str, int | None]  # (status, claimed_by)


@dataclass(frozen=True)
class QueueRow:
    """What the console's queue shows of an open handoff (the summary unmasked: each stream masks it)."""

    id: str
    status: str
    claimed_by: int | None
    priority: str
    reason: str
    created_at: datetime
    summary: str
    # The customer's latest frustration and distress (the trajectory's last turn), None when unscored.
    frustration: float | None = None
    distress: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "claimed_by": self.claimed_by,
            "priority": self.priority,
            "reason": self.reason,
            "created_at": self.created_at.isoformat(),
            "summary": self.summary,
            "frustration": self.frustration,
            "distress": self.distress,
        }


def latest_scores(payload: dict[str, Any]) -> tuple[float | None, float | None]:
    """The last scored turn's (frustration, distress); (None, None) without a usable trajectory."""
    trajectory = payload.get("trajectory")
    last = trajectory[-1] if isinstance(trajectory, list) and trajectory else None
    if not isinstance(last, dict):
        return None, None
    return _unit(last.get("frustration")), _unit(last.get("distress"))


def _unit(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value <= 1.0:
        return round(float(value), 2)
    return None


def open_states(engine: Engine) -> dict[str, State]:
    with Session(engine) as session:
        rows = session.execute(
            select(Handoff.id, Handoff.status, Handoff.claimed_by)
            .where(Handoff.status.in_((QUEUED, CLAIMED)))
            .limit(MAX_OPEN)
        ).all()
    return {handoff_id: (status, claimed_by) for handoff_id, status, claimed_by in rows}


def rows_of(engine: Engine, ids: list[str]) -> dict[str, QueueRow]:
    """The queue rows of ``ids`` (the ones still there), most urgent first, then longest waiting."""
    if not ids:
        return {}
    with Session(engine) as session:
        found = session.execute(
            select(Handoff)
            .where(Handoff.id.in_(ids))
            .order_by(Handoff.priority.desc(), Handoff.created_at.asc())
        ).scalars()
        return {row.id: _row(row) for row in found}


def _row(row: Handoff) -> QueueRow:
    document, _ = raw_payload(row.payload)
    payload = document if isinstance(document, dict) else {}
    summary = payload.get("summary")
    frustration, distress = latest_scores(payload)
    return QueueRow(
        id=row.id,
        status=row.status,
        claimed_by=row.claimed_by,
        priority=PRIORITY_NAMES.get(row.priority, "normal"),
        reason=row.reason,
        created_at=as_utc(row.created_at),
        summary=summary if isinstance(summary, str) else "",
        frustration=frustration,
        distress=distress,
    )


def open_rows(engine: Engine) -> list[QueueRow]:
    """Every open handoff's queue row, most urgent first: a new stream's snapshot."""
    return list(rows_of(engine, list(open_states(engine))).values())


def state_of(engine: Engine, handoff_id: str) -> tuple[str, int | None, str] | None:
    """A handoff's status, holder and conversation (None when it is gone): what a handoff stream polls."""
    with Session(engine) as session:
        row = session.execute(
            select(Handoff.status, Handoff.claimed_by, Handoff.conversation_id).where(
                Handoff.id == handoff_id
            )
        ).first()
    return None if row is None else (row[0], row[1], row[2])


def claimed_handoff_of(engine: Engine, conversation_id: str) -> str | None:
    """The handoff an agent holds for ``conversation_id`` (where the customer's typing is shown)."""
    with Session(engine) as session:
        found: str | None = session.execute(
            select(Handoff.id)
            .where(Handoff.conversation_id == conversation_id, Handoff.status == CLAIMED)
            .limit(1)
        ).scalar_one_or_none()
    return found


def statuses_of(engine: Engine, ids: list[str]) -> dict[str, str]:
    with Session(engine) as session:
        rows = session.execute(select(Handoff.id, Handoff.status).where(Handoff.id.in_(ids))).all()
    return {handoff_id: status for handoff_id, status in rows}


@dataclass
class QueueWatcher:
    engine: Engine
    hub: LiveHub
    poll_seconds: float = POLL_SECONDS
    states: dict[str, State] | None = None

    def poll(self) -> None:
        """One read and the events for what changed since the last one (none on the first read)."""
        states = open_states(self.engine)
        previous, self.states = self.states, states
        if previous is None:
            return
        changed = [i for i, state in states.items() if previous.get(i) != state]
        fresh = rows_of(self.engine, changed)
        gone = [i for i in previous if i not in states]
        for handoff_id in changed:
            row = fresh.get(handoff_id)
            if row is None:  # closed between the two reads: the next poll says so
                continue
            kind = "claimed" if row.status == CLAIMED else "queued"
            self.hub.publish(QUEUE, kind, {**row.to_dict(), "new": handoff_id not in previous})
        closed = statuses_of(self.engine, gone) if gone else {}
        for handoff_id in gone:
            self.hub.publish(QUEUE, "closed", {"id": handoff_id, "status": closed.get(handoff_id, "gone")})


async def run_watcher(watcher: QueueWatcher) -> None:
    """Polls while someone listens; a failed read is logged and retried (the streams carry on)."""
    hub = watcher.hub
    while not hub.closing.is_set():
        # The baseline is kept while nobody listens: the first poll after a console connects reports
        # what changed meanwhile (the console already has it from its snapshot, and ignores repeats).
        if watcher.states is not None and not hub.listening.is_set():
            await hub.listening.wait()
        try:
            await asyncio.to_thread(watcher.poll)
        except Exception:  # a database hiccup must not end the live console
            logger.exception("live queue poll failed")
        hub.wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(hub.wake.wait(), watcher.poll_seconds)
