"""Conversations stored under the old, shared ids move under their channel's prefix, on PostgreSQL.

The same migration as tests/bot/test_conversation_id_migration.py (SQLite), on a real PostgreSQL:
Rasa's SQL tracker store writes the old conversations and reads the renamed ones back; the action
server's contact history and outbox are its own classes on their own databases.
"""

import os
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain

from actions.contact_history import ContactHistory
from actions.outbox import Outbox
from bot.conversation_id_migration import migrate_conversation_ids
from tests.support.datastores import Postgres, postgres, postgres_bin
from tests.support.ports import free_port
from tests.support.stored_conversations import save, texts

pytestmark = pytest.mark.integration

# Old id → (the channels its customer messages came through, the id it must get).
LEGACY = {
    "+447700900123": (["twilio"], "sms:+447700900123"),
    "whatsapp:+447700900124": (["twilio"], "whatsapp:+447700900124"),
    "0123456789abcdef0123456789abcdef": (["socketio"], "web:0123456789abcdef0123456789abcdef"),
    "alice": (["rest"], "rest:alice"),
    "+447700900125": (["twilio", "rest"], "sms:+447700900125"),  # a REST client wrote into it
    "sms:+447700900126": (["rest"], "rest:sms:+447700900126"),  # a REST client's chosen name
}


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    if postgres_bin("initdb") is None or postgres_bin("postgres") is None:
        reason = "PostgreSQL is not installed: `make datastores` installs Debian's packages"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with postgres(free_port()) as found:
        found.create_databases("tracker", "store", "outbox")
        yield found


def tracker_store(pg: Postgres) -> SQLTrackerStore:
    return SQLTrackerStore(
        Domain.empty(), dialect="postgresql", host=pg.host, port=pg.port, db="tracker", username=pg.user
    )


def query(pg: Postgres, database: str, sql: str) -> list[tuple[Any, ...]]:
    connection = psycopg2.connect(host=pg.host, port=pg.port, user=pg.user, dbname=database)
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return sorted(cursor.fetchall())
    finally:
        connection.close()


async def test_conversations_contacts_and_queued_handoffs_are_renamed_once(pg: Postgres) -> None:
    store = tracker_store(pg)
    for sender, (channels, _) in LEGACY.items():
        await save(store, sender, channels)
    before = {sender: await texts(store, sender) for sender in LEGACY}
    contacts = ContactHistory.open(pg.url("store"))
    contacts.record("cust-1", "+447700900125", "rest", now=10.0)
    contacts.record("cust-1", "sms:+447700900125", "twilio", now=20.0)
    contacts.record("cust-2", "alice", "rest", now=30.0)
    outbox = Outbox.open(pg.url("outbox"))
    outbox.put({"idempotency_key": "h-1", "conversation_id": "+447700900123", "channel": "twilio"})
    for engine in (contacts.engine, outbox.engine):
        engine.dispose()
    urls = (pg.url("tracker"), pg.url("store"), pg.url("outbox"))

    migrated = migrate_conversation_ids(*urls)
    again = migrate_conversation_ids(*urls)

    assert (migrated.conversations, migrated.contacts, migrated.queued) == (len(LEGACY) - 1, 2, 1)
    assert (again.conversations, again.contacts, again.queued) == (0, 0, 0)
    for old, (_, new) in LEGACY.items():
        assert await texts(store, new) == before[old], new
        if new != old:
            assert await texts(store, old) is None, old
    assert query(pg, "store", "SELECT customer_key, sender_id, last_seen FROM attune_contacts") == [
        ("cust-1", "sms:+447700900125", 20.0),
        ("cust-2", "rest:alice", 30.0),
    ]
    reopened = Outbox.open(pg.url("outbox"))
    item = reopened.get("h-1")
    assert item is not None and item.body["conversation_id"] == "sms:+447700900123"
    reopened.engine.dispose()
    store.engine.dispose()
