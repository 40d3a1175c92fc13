"""Presence (online, away, offline) and capacity: who takes handoffs now.

An agent counts as someone online (``handoff.core.accounts.agents_online``, which the handoff API
reports and the bot's wait message uses) only when they chose ``online``, their console was used
within the last minutes, and they hold fewer handoffs than their capacity.  Each agent sets their
own presence; the workspace policy's ``manage_team`` roles set capacities.
"""

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.core import accounts
from handoff.core.models import CLAIMED, MAX_CAPACITY, ONLINE, PRESENCES, Agent, Handoff, is_presence
from handoff.shared.errors import InvalidRequest, NotFound


@dataclass(frozen=True)
class Member:
    """One active agent as the team page and the transfer list show them."""

    id: int
    username: str
    display_name: str
    role: str
    presence: str
    connected: bool  # their console was used within accounts.ONLINE_WINDOW
    load: int
    capacity: int

    @property
    def available(self) -> bool:
        return self.presence == ONLINE and self.connected and self.load < self.capacity

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "presence": self.presence,
            "connected": self.connected,
            "load": self.load,
            "capacity": self.capacity,
            "available": self.available,
        }


def set_presence(engine: Engine, agent_id: int, presence: str) -> None:
    if not is_presence(presence):
        raise InvalidRequest(f"presence must be one of {', '.join(PRESENCES)}")
    with Session(engine) as session, session.begin():
        session.execute(update(Agent).where(Agent.id == agent_id).values(presence=presence))


def set_capacity(engine: Engine, agent_id: int, capacity: int | None) -> None:
    if capacity is None or not 0 <= capacity <= MAX_CAPACITY:
        raise InvalidRequest(f"capacity must be a whole number from 0 to {MAX_CAPACITY}")
    with Session(engine) as session, session.begin():
        changed = session.execute(
            update(Agent).where(Agent.id == agent_id, Agent.disabled_at.is_(None)).values(capacity=capacity)
        ).rowcount
    if not changed:
        raise NotFound("no active agent has that id")


def team(engine: Engine, now: datetime | None = None) -> list[Member]:
    """Every active agent with their presence, whether their console is live, and their load."""
    moment = now or datetime.now(timezone.utc)
    connected = accounts.connected_agents(engine, moment)
    with Session(engine) as session:
        loads = dict(
            session.execute(
                select(Handoff.claimed_by, func.count())
                .where(Handoff.status == CLAIMED)
                .group_by(Handoff.claimed_by)
            ).all()
        )
        agents = session.execute(
            select(Agent).where(Agent.disabled_at.is_(None)).order_by(Agent.display_name)
        ).scalars()
        return [
            Member(
                a.id,
                a.username,
                a.display_name,
                a.role,
                a.presence,
                a.id in connected,
                int(loads.get(a.id, 0)),
                int(a.capacity),
            )
            for a in agents
        ]
