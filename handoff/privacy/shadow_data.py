"""What export, erasure and retention (personal_data.py) do to shadow mode's records.

The action server's ``attune_shadow`` (actions/shadow_log.py, in the store database,
ATTUNE_STORE_DATABASE_URL; docs/shadow.md) holds, per scored turn of a conversation, the live and a
candidate policy's frustration and distress scores, decisions and tones, and the strongest signals:
emotion data, no message text.  Export lists a customer's rows by conversation; erasure deletes
them; retention deletes rows older than the emotion period (ATTUNE_RETENTION_EMOTION_DAYS), as the
other emotion data goes.  The table is reached by name (handoff/analytics/shadow_report.py).
"""

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from handoff.analytics.shadow_report import COLUMNS, TABLE_NAME, has_table, record_of


def export_records(store: Engine | None, conversations: set[str]) -> list[dict[str, Any]]:
    """The customer's shadow records, by conversation, oldest first."""
    if not conversations or not has_table(store):
        return []
    assert store is not None
    found = []
    with store.connect() as connection:
        for conversation in sorted(conversations):
            rows = connection.execute(
                text(f"SELECT {', '.join(COLUMNS)} FROM {TABLE_NAME} WHERE conversation_id = :c ORDER BY id"),
                {"c": conversation},
            ).all()
            found += [record_of(row).__dict__ for row in rows]
    return found


def erase_records(store: Engine | None, conversations: set[str]) -> int:
    if not conversations or not has_table(store):
        return 0
    assert store is not None
    with store.begin() as connection:
        return sum(
            int(
                connection.execute(
                    text(f"DELETE FROM {TABLE_NAME} WHERE conversation_id = :c"), {"c": conversation}
                ).rowcount
                or 0
            )
            for conversation in sorted(conversations)
        )


def purge_records(store: Engine | None, emotion_cutoff: datetime) -> int:
    if not has_table(store):
        return 0
    assert store is not None
    with store.begin() as connection:
        deleted = connection.execute(
            text(f"DELETE FROM {TABLE_NAME} WHERE recorded_at < :t"), {"t": emotion_cutoff.timestamp()}
        ).rowcount
    return int(deleted or 0)
