"""Where shadow mode's records are kept: ``attune_shadow`` in the action server's store database.

One row per scored customer turn while shadow mode is on (docs/shadow.md): the conversation id and
turn, the candidate's name, the live and candidate frustration, distress, decision and tone, and the
strongest signals with their values.  Never the message's text.  It is emotion data: the privacy
code (handoff/privacy/shadow_data.py) exports and erases it with the customer's conversations and
purges it after the emotion retention period.  The handoff service reaches the table by name, as it
does the other tables of this database; the column names are the contract.

Rows are written in batches by a background task (actions/shadow_mode.py), never on a customer's turn.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, Text, insert, select
from sqlalchemy.engine import Engine

from actions.sql import open_engine
from bot.empathy.shadow import MAX_NAME_CHARS, ShadowRecord

TABLE_NAME = "attune_shadow"
MAX_CONVERSATION_ID_CHARS = 255  # as Rasa's events.sender_id

metadata = MetaData()
shadow_table = Table(
    TABLE_NAME,
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("conversation_id", String(MAX_CONVERSATION_ID_CHARS), nullable=False, index=True),
    Column("turn", Integer, nullable=False),
    Column("candidate", String(MAX_NAME_CHARS), nullable=False),
    Column("recorded_at", Float, nullable=False, index=True),  # seconds since the epoch
    Column("live_frustration", Float, nullable=False),
    Column("candidate_frustration", Float, nullable=False),
    Column("live_distress", Float, nullable=False),
    Column("candidate_distress", Float, nullable=False),
    Column("live_decision", String(32), nullable=False),
    Column("candidate_decision", String(32), nullable=False),
    Column("live_tone", String(32), nullable=False),
    Column("candidate_tone", String(32), nullable=False),
    Column("signals", Text, nullable=False),  # JSON {signal: value}
    Column("continued", Boolean, nullable=False),
)


def row_of(record: ShadowRecord) -> dict[str, object]:
    return {
        "conversation_id": record.conversation_id[:MAX_CONVERSATION_ID_CHARS],
        "turn": record.turn,
        "candidate": record.candidate,
        "recorded_at": record.recorded_at,
        "live_frustration": record.live_frustration,
        "candidate_frustration": record.candidate_frustration,
        "live_distress": record.live_distress,
        "candidate_distress": record.candidate_distress,
        "live_decision": record.live_decision,
        "candidate_decision": record.candidate_decision,
        "live_tone": record.live_tone,
        "candidate_tone": record.candidate_tone,
        "signals": json.dumps(record.signals, sort_keys=True),
        "continued": record.continued,
    }


@dataclass(frozen=True)
class ShadowLog:
    engine: Engine

    @classmethod
    def open(cls, database_url: str) -> "ShadowLog":
        engine = open_engine(database_url)
        metadata.create_all(engine, tables=[shadow_table])
        return cls(engine)

    def write(self, records: Sequence[ShadowRecord]) -> int:
        """Stores ``records`` in one transaction; returns how many."""
        if not records:
            return 0
        with self.engine.begin() as connection:
            connection.execute(insert(shadow_table), [row_of(r) for r in records])
        return len(records)

    def count(self) -> int:
        with self.engine.connect() as connection:
            return len(connection.execute(select(shadow_table.c.id)).all())
