"""Counts of self-service lookups and failed checks per key (a conversation, a client address).

Kept in the store's database, so every action server behind a load balancer counts the same
attempts; rows older than a day are deleted as new ones come.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Final, Literal

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from actions.store.models import SelfServiceEvent

Kind = Literal["lookup", "failed_check"]
LOOKUP: Final[Kind] = "lookup"
FAILED_CHECK: Final[Kind] = "failed_check"
KEPT: Final = timedelta(days=1)


class AttemptLog:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(bind=engine, future=True)

    def record(self, keys: Iterable[str], kind: Kind, now: datetime) -> None:
        with self._sessions() as session:
            session.execute(delete(SelfServiceEvent).where(SelfServiceEvent.at < now - KEPT))
            session.add_all([SelfServiceEvent(key=key, kind=kind, at=now) for key in keys])
            session.commit()

    def count(self, key: str, kind: Kind, since: datetime) -> int:
        with self._sessions() as session:
            return int(
                session.execute(
                    select(func.count())
                    .select_from(SelfServiceEvent)
                    .where(
                        SelfServiceEvent.key == key,
                        SelfServiceEvent.kind == kind,
                        SelfServiceEvent.at >= since,
                    )
                ).scalar_one()
            )
