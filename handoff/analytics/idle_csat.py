"""Idle CSAT candidates (table ``csat_idle``): conversations whose bot last asked "anything else?".

"A bot conversation counts as resolved when the customer says there is nothing else, or after a
configurable idle time" (issue 21).  The first is a rule of the bot; the second needs someone who
watches the clock, and that is the handoff service, from the events it already ingests from Rasa's
event broker (handoff/analytics/ingest.py gathers each batch's ``IdleSignal``s in ``Signals``):

- the bot's "anything else?" (``events.ANYTHING_ELSE``) **arms** the conversation's row, unless the
  row has already seen that moment or a later one (a redelivered or late prompt changes nothing);
- a customer message **clears** an armed (or claimed) row; the idle trigger's own intent is not one;
- another bot action clears an armed row too: the bot's last message is no longer the question.

Only conversations on a channel that can push a message get a row (``PUSH_CHANNELS``): the REST
channel cannot, so the question would arrive as the first reply to the customer's next message and
read that message as its score.

The idle worker (handoff/analytics/idle_worker.py) then ``claim``s the rows armed for longer than
the idle time, each with a conditional update, so two service instances never both trigger one;
it ``record``s how the call went.  Times come in as arguments: the tests move a fake clock.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from handoff.analytics import events
from handoff.core.db import as_utc
from handoff.core.models import (
    IDLE_ARMED,
    IDLE_CLAIMED,
    IDLE_CLEARED,
    IDLE_FAILED,
    IDLE_STALE,
    IDLE_TRIGGERED,
    CsatIdle,
)
from handoff.shared.backoff import backoff
from handoff.shared.conversation_ids import channel_of

# Channels whose Rasa output channel reaches the customer without their writing first.
PUSH_CHANNELS: Final = frozenset({"socketio", "twilio"})
MAX_ATTEMPTS: Final = 3
RETRY_FIRST_SECONDS: Final = 30.0
RETRY_CAP_SECONDS: Final = 300.0
# A claim older than this is from a worker that died mid-call: it may be claimed again (the action
# server's ledger still stops a second question if the first call did get through).
CLAIM_LEASE: Final = timedelta(minutes=5)
# A prompt found this long after it fell due (a consumer catching up on a backlog, a restored
# database) is not worth a question any more: the customer has long gone.
LATE_LIMIT: Final = timedelta(hours=1)
MAX_ERROR_CHARS: Final = 200


@dataclass(frozen=True)
class Candidate:
    """A claimed row: the conversation to trigger, and the prompt the claim was for."""

    conversation_id: str
    prompted_at: datetime
    attempts: int


@dataclass
class _Latest:
    """One conversation's latest signals in a batch: its last prompt, customer message, bot action."""

    prompt: tuple[datetime, str] | None = None
    customer: datetime | None = None
    bot: datetime | None = None


@dataclass
class Signals:
    """A batch's idle signals, gathered per conversation and written once each (``apply``) rather
    than per event.  Equivalent to applying the events one by one, in any order: only each kind's
    latest moment matters, and a prompt the batch itself overtook (a message after it) arms nothing.
    """

    latest: dict[str, _Latest] = field(default_factory=dict)

    def add(self, parsed: events.Parsed) -> None:
        signal = parsed.idle
        if signal is None or channel_of(parsed.conversation_id) not in PUSH_CHANNELS:
            return
        seen = self.latest.setdefault(parsed.conversation_id, _Latest())
        at = parsed.at
        if signal.kind == events.PROMPT:
            if seen.prompt is None or seen.prompt[0] < at:
                seen.prompt = (at, str(signal.prompt))
        elif signal.kind == events.CUSTOMER:
            seen.customer = at if seen.customer is None else max(seen.customer, at)
        else:
            seen.bot = at if seen.bot is None else max(seen.bot, at)

    def apply(self, session: Session) -> None:
        """Writes the rows, in the ingestion's transaction: one read for the batch (locked on
        PostgreSQL; on SQLite the batch already holds the write lock), one write per changed row.
        """
        if not self.latest:
            return
        stored = {
            row.conversation_id: row
            for row in session.execute(
                select(CsatIdle).where(CsatIdle.conversation_id.in_(sorted(self.latest))).with_for_update()
            ).scalars()
        }
        for conversation_id, seen in self.latest.items():
            row = stored.get(conversation_id)
            if row is not None:
                _update(row, seen)
            elif seen.prompt is not None or seen.customer is not None:
                # A customer message gets a row even before any prompt: a prompt delivered late (a
                # broker's redelivery out of order) must still find that the customer wrote after it.
                fresh = CsatIdle(conversation_id=conversation_id, status=IDLE_CLEARED, attempts=0)
                _update(fresh, seen)
                _insert_ignore(session, {c.name: getattr(fresh, c.name) for c in CsatIdle.__table__.columns})
        self.latest.clear()


def _update(row: CsatIdle, seen: _Latest) -> None:
    """``row`` after the batch's signals: cleared by a message after its prompt (a customer message
    also clears a claim in flight), its latest activity moved on, re-armed by a newer prompt.
    """
    prompted = as_utc(row.prompted_at) if row.prompted_at is not None else None
    by_customer = row.status in (IDLE_ARMED, IDLE_CLAIMED) and _before(prompted, seen.customer)
    if by_customer or (row.status == IDLE_ARMED and _before(prompted, seen.bot)):
        row.status = IDLE_CLEARED
    moments = [as_utc(row.activity_at) if row.activity_at is not None else None, seen.customer, seen.bot]
    activity = max((m for m in moments if m is not None), default=None)
    if activity is not None and activity != moments[0]:
        row.activity_at = activity
    if seen.prompt is None:
        return
    at, prompt = seen.prompt
    if (prompted is None or prompted < at) and (activity is None or activity < at):
        row.prompt, row.prompted_at, row.status, row.attempts = prompt, at, IDLE_ARMED, 0
        row.next_try_at = row.claimed_at = row.triggered_at = row.error = None


def _before(prompted: datetime | None, moment: datetime | None) -> bool:
    return prompted is not None and moment is not None and prompted < moment


def _insert_ignore(session: Session, values: dict[str, Any]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING (SQLite and PostgreSQL); True if the row was inserted.  A row
    another consumer inserted first wins (run one consumer per broker: docs/analytics.md).
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    return bool(session.execute(insert(CsatIdle).values(**values).on_conflict_do_nothing()).rowcount == 1)


def _due(now: datetime, idle: timedelta) -> Any:
    armed = and_(
        CsatIdle.status == IDLE_ARMED,
        CsatIdle.prompted_at <= now - idle,
        or_(CsatIdle.next_try_at.is_(None), CsatIdle.next_try_at <= now),
    )
    abandoned = and_(CsatIdle.status == IDLE_CLAIMED, CsatIdle.claimed_at <= now - CLAIM_LEASE)
    return or_(armed, abandoned)


def claim(session: Session, now: datetime, idle: timedelta, limit: int) -> list[Candidate]:
    """Claims up to ``limit`` rows idle for longer than ``idle`` (each with a conditional update, so a
    row another instance claimed first is skipped), and marks the ones found too late ``stale``.
    The caller commits.
    """
    rows = session.execute(
        select(CsatIdle.conversation_id, CsatIdle.prompted_at, CsatIdle.status, CsatIdle.attempts)
        .where(_due(now, idle))
        .order_by(CsatIdle.prompted_at)
        .limit(limit)
    ).all()
    claimed = []
    for conversation_id, prompted_at, status, attempts in rows:
        late = now - idle - LATE_LIMIT > as_utc(prompted_at)
        won = session.execute(
            update(CsatIdle)
            .where(CsatIdle.conversation_id == conversation_id)
            .where(CsatIdle.status == status, CsatIdle.prompted_at == prompted_at)
            .where(CsatIdle.attempts == attempts)
            .values(
                status=IDLE_STALE if late else IDLE_CLAIMED,
                claimed_at=now,
                attempts=attempts if late else attempts + 1,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if won == 1 and not late:
            claimed.append(Candidate(conversation_id, as_utc(prompted_at), attempts + 1))
    return claimed


def record(session: Session, candidate: Candidate, now: datetime, error: str | None, *, final: bool) -> None:
    """How the call for ``candidate`` went: triggered, to be tried again later, or given up on.

    Only the claim itself is updated: if the customer wrote meanwhile (``cleared``) or a new prompt
    re-armed the row, that stands.
    """
    if error is None:
        values: dict[str, Any] = {"status": IDLE_TRIGGERED, "triggered_at": now, "error": None}
    elif final or candidate.attempts >= MAX_ATTEMPTS:
        values = {"status": IDLE_FAILED, "error": error[:MAX_ERROR_CHARS]}
    else:
        wait = backoff(candidate.attempts, RETRY_FIRST_SECONDS, RETRY_CAP_SECONDS)
        values = {
            "status": IDLE_ARMED,
            "next_try_at": now + timedelta(seconds=wait),
            "error": error[:MAX_ERROR_CHARS],
        }
    session.execute(
        update(CsatIdle)
        .where(CsatIdle.conversation_id == candidate.conversation_id)
        .where(CsatIdle.status == IDLE_CLAIMED, CsatIdle.prompted_at == candidate.prompted_at)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
