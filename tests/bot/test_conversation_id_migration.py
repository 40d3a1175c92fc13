"""Conversations stored under the old, shared ids move under their channel's prefix (issue 13).

Written and read back by Rasa's own SQL tracker store, on a real SQLite file; the action server's
tables by its own classes.  The same on PostgreSQL: tests/scale/test_conversation_ids_on_postgres.py.
"""

import json
import sqlite3
from pathlib import Path

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain

from actions.audit_queue import AuditQueue
from actions.contact_history import ContactHistory
from actions.outbox import Outbox
from bot import cli
from bot.conversation_id_migration import (
    migrate_conversation_ids,
    migrate_tracker_store,
    namespaced,
)
from tests.support.stored_conversations import save, texts

HEX_SESSION = "0123456789abcdef0123456789abcdef"
# Old id → (the channels its customer messages came through, the id it must get).
LEGACY = {
    "+447700900123": (["twilio", "twilio"], "sms:+447700900123"),
    "whatsapp:+447700900124": (["twilio"], "whatsapp:+447700900124"),  # Twilio's own prefix: kept
    HEX_SESSION: (["socketio"], f"web:{HEX_SESSION}"),
    "alice": (["rest"], "rest:alice"),
    # A REST client named itself after an SMS customer and wrote into their conversation: it is
    # the SMS customer's, out of reach of REST clients from now on.
    "+447700900125": (["twilio", "rest", "twilio"], "sms:+447700900125"),
    # Client-chosen ids that look namespaced are not: each goes under its real channel.
    "sms:+447700900126": (["rest"], "rest:sms:+447700900126"),
    "rest:bob": (["socketio"], "web:rest:bob"),
    "nobody": ([], "rest:nobody"),
}


def store_on(db: Path) -> SQLTrackerStore:
    return SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db))


def rows(db: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as connection:
        return sorted(connection.execute(query).fetchall())


@pytest.fixture
async def legacy_store(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    """A tracker store as the previous version left it; returns it and each conversation's texts."""
    db = tmp_path / "tracker.db"
    store = store_on(db)
    for sender, (channels, _) in LEGACY.items():
        await save(store, sender, list(channels))
    before = {sender: await texts(store, sender) or [] for sender in LEGACY}
    store.engine.dispose()
    return db, before


async def test_each_conversation_moves_under_its_channels_prefix_whole(
    legacy_store: tuple[Path, dict[str, list[str]]],
) -> None:
    db, before = legacy_store

    renamed = migrate_tracker_store(f"sqlite:///{db}")

    store = store_on(db)
    assert renamed == len(LEGACY) - 1  # the WhatsApp conversation already had its prefix
    for old, (_, new) in LEGACY.items():
        assert await texts(store, new) == before[old], new
        if new != old:
            assert await texts(store, old) is None, old


async def test_running_it_again_changes_nothing_also_for_conversations_started_since(
    legacy_store: tuple[Path, dict[str, list[str]]],
) -> None:
    db, _ = legacy_store
    url = f"sqlite:///{db}"
    migrate_tracker_store(url)
    store = store_on(db)
    # Written by the namespaced channels since, and by Rasa's HTTP API (no input channel).
    await save(store, "sms:+447700900199", ["twilio"])
    await save(store, f"web:{'f' * 32}", ["socketio", None])
    await save(store, "rest:carol", [None])
    await save(store, "whatsapp:+447700900198", [])
    store.engine.dispose()
    stored = rows(db, "SELECT id, sender_id FROM events")

    assert migrate_tracker_store(url) == 0
    assert rows(db, "SELECT id, sender_id FROM events") == stored


def test_the_channel_is_the_most_trusted_that_reached_the_conversation() -> None:
    assert namespaced("+447700900123", ["rest", "socketio", "twilio"]) == "sms:+447700900123"
    assert namespaced("abc", ["rest", "socketio"]) == "web:abc"
    assert namespaced("abc", ["rest", None, "cmdline"]) == "rest:abc"
    assert namespaced("abc", ["cmdline"]) == "rest:abc"
    assert namespaced("web:abc", [None, "cmdline"]) == "web:abc"


async def test_an_id_too_long_for_its_column_once_prefixed_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    store = store_on(db)
    await save(store, "x" * 252, ["rest"])
    await save(store, "y" * 250, ["rest"])
    store.engine.dispose()

    assert migrate_tracker_store(f"sqlite:///{db}") == 1
    assert rows(db, "SELECT DISTINCT sender_id FROM events") == [("rest:" + "y" * 250,), ("x" * 252,)]


def test_databases_that_do_not_exist_are_not_created(tmp_path: Path) -> None:
    missing = {name: tmp_path / f"{name}.db" for name in ("tracker", "store", "outbox")}

    migrated = migrate_conversation_ids(*(f"sqlite:///{path}" for path in missing.values()))

    assert (migrated.conversations, migrated.contacts, migrated.queued) == (0, 0, 0)
    assert not any(path.exists() for path in missing.values())


async def test_contact_history_and_queued_payloads_follow_the_tracker_store(
    legacy_store: tuple[Path, dict[str, list[str]]], tmp_path: Path
) -> None:
    tracker_db, _ = legacy_store
    store_url, outbox_url = f"sqlite:///{tmp_path / 'store.db'}", f"sqlite:///{tmp_path / 'outbox.db'}"
    contacts = ContactHistory.open(store_url)
    contacts.record("cust-1", "+447700900125", "rest", now=10.0)  # the tracker store says: SMS
    contacts.record("cust-1", "sms:+447700900125", "twilio", now=20.0)  # since namespacing: one row
    contacts.record("cust-2", "dave", "rest", now=30.0)  # not in the tracker store: from its channel
    contacts.record("cust-3", "sms:+447700900199", "twilio", now=40.0)
    outbox = Outbox.open(outbox_url)
    outbox.put({"idempotency_key": "h-1", "conversation_id": HEX_SESSION, "channel": "socketio"})
    outbox.put({"idempotency_key": "h-2", "conversation_id": "+447700900111", "channel": "twilio"})
    outbox.put({"idempotency_key": "h-3", "conversation_id": "rest:erin", "channel": "rest"})
    queue = AuditQueue.open(outbox_url)
    queue.put_all([{"key": "a-1", "conversation_id": "alice"}, {"key": "a-2", "conversation_id": "frank"}])
    for engine in (contacts.engine, outbox.engine, queue.engine):
        engine.dispose()

    migrated = migrate_conversation_ids(f"sqlite:///{tracker_db}", store_url, outbox_url)
    again = migrate_conversation_ids(f"sqlite:///{tracker_db}", store_url, outbox_url)

    assert (migrated.contacts, migrated.queued) == (2, 3)
    assert (again.conversations, again.contacts, again.queued) == (0, 0, 0)
    assert rows(
        tmp_path / "store.db", "SELECT customer_key, sender_id, channel, last_seen FROM attune_contacts"
    ) == [
        ("cust-1", "sms:+447700900125", "twilio", 20.0),
        ("cust-2", "rest:dave", "rest", 30.0),
        ("cust-3", "sms:+447700900199", "twilio", 40.0),
    ]
    assert rows(tmp_path / "outbox.db", "SELECT idempotency_key, payload FROM handoff_outbox") == [
        (
            "h-1",
            json.dumps(
                {"idempotency_key": "h-1", "conversation_id": f"web:{HEX_SESSION}", "channel": "socketio"}
            ),
        ),
        (
            "h-2",
            json.dumps(
                {"idempotency_key": "h-2", "conversation_id": "sms:+447700900111", "channel": "twilio"}
            ),
        ),
        ("h-3", json.dumps({"idempotency_key": "h-3", "conversation_id": "rest:erin", "channel": "rest"})),
    ]
    # An audit entry records no channel: renamed when the tracker store knew its conversation.
    assert rows(tmp_path / "outbox.db", "SELECT key, entry FROM audit_queue") == [
        ("a-1", json.dumps({"key": "a-1", "conversation_id": "rest:alice"})),
        ("a-2", json.dumps({"key": "a-2", "conversation_id": "frank"})),
    ]


async def test_the_command_reads_the_databases_from_the_environment(
    legacy_store: tuple[Path, dict[str, list[str]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tracker_db, _ = legacy_store
    monkeypatch.setenv("ATTUNE_TRACKER_DATABASE_URL", f"sqlite:///{tracker_db}")
    monkeypatch.setenv("ATTUNE_STORE_DATABASE_URL", f"sqlite:///{tmp_path / 'no-store.db'}")
    monkeypatch.setenv("ATTUNE_OUTBOX_DATABASE_URL", f"sqlite:///{tmp_path / 'no-outbox.db'}")

    assert cli.main(["migrate-conversation-ids"]) == 0
    assert cli.main(["migrate-conversation-ids"]) == 0

    first, second = capsys.readouterr().out.strip().splitlines()
    assert first.startswith(f"renamed {len(LEGACY) - 1} conversation(s) in the tracker store")
    assert second.startswith("renamed 0 conversation(s)")
    assert ("sms:+447700900123",) in rows(tracker_db, "SELECT DISTINCT sender_id FROM events")
