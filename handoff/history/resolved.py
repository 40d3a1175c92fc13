"""The resolved handoffs, newest first: who resolved each, when, why (the disposition), filtered and paged.

Each row opens the handoff page, which shows the whole conversation: the bot's part from the
payload and the human part kept on resolving (migration 0015), with the disposition.
"""

from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.core import access
from handoff.core.db import as_utc
from handoff.core.models import RESOLVED, Agent, Handoff
from handoff.history.queries import ResolvedQuery
from handoff.queue.handoffs import raw_payload
from handoff.workspace.policy import WorkspacePolicy

PAGE_SIZE: Final = 25


@dataclass(frozen=True)
class ResolvedPage:
    rows: list[dict[str, Any]]
    page: int
    has_next: bool


def resolved(
    engine: Engine, query: ResolvedQuery, policy: WorkspacePolicy, grants: frozenset[str]
) -> ResolvedPage:
    statement = (
        select(Handoff, Agent.display_name)
        .outerjoin(Agent, Agent.id == Handoff.resolved_by)
        .where(Handoff.status == RESOLVED)
        .order_by(Handoff.resolved_at.desc(), Handoff.id.desc())
    )
    if query.disposition is not None:
        statement = statement.where(Handoff.disposition == query.disposition)
    if query.agent is not None:
        statement = statement.where(Handoff.resolved_by == query.agent)
    if query.since is not None:
        statement = statement.where(Handoff.resolved_at >= query.since)
    if query.until is not None:
        statement = statement.where(Handoff.resolved_at < query.until)
    offset = (query.page - 1) * PAGE_SIZE
    with Session(engine) as session:
        window = session.execute(statement.offset(offset).limit(PAGE_SIZE + 1)).all()
        rows = [_row(h, name, policy, grants) for h, name in window[:PAGE_SIZE]]
    return ResolvedPage(rows, query.page, len(window) > PAGE_SIZE)


def _row(h: Any, resolver: str | None, policy: WorkspacePolicy, grants: frozenset[str]) -> dict[str, Any]:
    document, _ = raw_payload(h.payload)
    summary = document.get("summary") if isinstance(document, dict) else None
    known = policy.disposition(h.disposition) if h.disposition else None
    return {
        "id": h.id,
        "resolved_at": as_utc(h.resolved_at).isoformat() if h.resolved_at else None,
        "resolved_by": resolver,
        "disposition": known.label if known else h.disposition,
        "kept_transcript": h.human_transcript is not None,
        "reason": h.reason,
        "summary": access.visible_text(summary if isinstance(summary, str) else "", grants),
    }


def resolvers(engine: Engine) -> list[dict[str, Any]]:
    """Every agent, for the filter's list (disabled ones too: they resolved handoffs once)."""
    with Session(engine) as session:
        rows = session.execute(select(Agent.id, Agent.display_name).order_by(Agent.display_name)).all()
    return [{"id": agent_id, "name": name} for agent_id, name in rows]
