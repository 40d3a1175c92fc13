"""When each customer was last asked the CSAT question: the memory that keeps the question rare.

One row per customer key, in the action server's store database (ATTUNE_STORE_DATABASE_URL, next to
the contact history), so every action server and every channel sees the same answer.  The key is
the customer the Rasa server verified (actions/consent.py ``gate_answer``: the handoff service's
customer id or a signed identity token's), never an e-mail typed into the chat (anyone can type
one, and asking "as" someone else would silence that customer's survey); a conversation nobody
verified is its own key.

``claim`` is the only write, and it is the check too: the row is inserted, or moved forward only if
the last ask is older than the period, in one statement.  Two conversations of the same customer
finishing at the same moment cannot both win, so the customer is never asked twice in the period.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Float, MetaData, String, Table, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from actions.sql import open_engine

MAX_KEY_CHARS = 300

metadata = MetaData()
asked_table = Table(
    "attune_csat_asked",
    metadata,
    Column("customer_key", String(MAX_KEY_CHARS), primary_key=True),
    Column("asked_at", Float, nullable=False),  # seconds since the epoch
)


def customer_key(verified_customer: str | None, conversation_id: str) -> str:
    """The ledger's key: the verified customer, else this conversation (prefixed so the two never meet)."""
    key = f"customer:{verified_customer}" if verified_customer else f"conversation:{conversation_id}"
    return key[:MAX_KEY_CHARS]


@dataclass(frozen=True)
class CsatLedger:
    engine: Engine

    @classmethod
    def open(cls, database_url: str) -> "CsatLedger":
        engine = open_engine(database_url)
        metadata.create_all(engine)
        return cls(engine)

    def claim(self, key: str, now: float, period_seconds: float) -> bool:
        """True when ``key`` may be asked now (and is then recorded as asked at ``now``); False when it
        was asked less than ``period_seconds`` ago (nothing changes).
        """
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(asked_table).values(customer_key=key, asked_at=now))
            return True
        except IntegrityError:
            pass  # asked before: move the time forward only if that was long enough ago
        with self.engine.begin() as connection:
            moved = connection.execute(
                update(asked_table)
                .where(asked_table.c.customer_key == key)
                .where(asked_table.c.asked_at <= now - period_seconds)
                .values(asked_at=now)
            )
        return bool(moved.rowcount)

    def last_asked(self, key: str) -> float | None:
        with self.engine.connect() as connection:
            row: Any = connection.execute(
                select(asked_table.c.asked_at).where(asked_table.c.customer_key == key)
            ).first()
        return None if row is None else float(row[0])
