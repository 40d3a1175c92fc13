"""The MessageSids already received, in an SQLite file as in the tracker store's database."""

import asyncio
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from bot.components.message_receipts import MessageReceipts, ReceiptsUnavailable

SID = "SM" + "a" * 32
OTHER_SID = "SM" + "b" * 32
START = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def receipts(database: Path, clock: Clock | None = None) -> MessageReceipts:
    engine = create_engine(f"sqlite:///{database}", future=True)
    return MessageReceipts(engine, timedelta(days=30), clock or Clock())


async def test_a_sid_is_new_once(tmp_path: Path) -> None:
    store = receipts(tmp_path / "tracker.db")

    assert [await store.first_delivery(sid) for sid in (SID, SID, OTHER_SID, SID)] == [
        True,
        False,
        True,
        False,
    ]


async def test_the_receipts_outlive_the_process_in_the_tracker_stores_database(tmp_path: Path) -> None:
    database = tmp_path / "tracker.db"
    assert await receipts(database).first_delivery(SID)

    assert not await receipts(database).first_delivery(SID)  # a new process: new engine, same file
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT message_sid FROM twilio_inbound_messages").fetchall() == [(SID,)]


async def test_two_servers_starting_together_record_a_sid_once(tmp_path: Path) -> None:
    database = tmp_path / "tracker.db"
    servers = [receipts(database) for _ in range(4)]  # none has created the table yet

    results = await asyncio.gather(*(server.first_delivery(SID) for server in servers))

    assert sorted(results) == [False, False, False, True]


async def test_sids_older_than_the_retention_are_forgotten(tmp_path: Path) -> None:
    clock = Clock()
    store = receipts(tmp_path / "tracker.db", clock)
    await store.first_delivery(SID)
    clock.now += timedelta(days=29)
    await store.first_delivery(OTHER_SID)

    clock.now = START + timedelta(days=30, seconds=1)
    assert store.prune() == 1

    assert await store.first_delivery(SID)  # forgotten: the signature cannot tell a replay's age
    assert not await store.first_delivery(OTHER_SID)


def test_the_database_is_read_from_the_tracker_store_variable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"

    assert str(MessageReceipts.from_environ({"ATTUNE_TRACKER_DATABASE_URL": url}).engine.url) == url
    assert str(MessageReceipts.from_environ({}).engine.url) == "sqlite:///var/tracker.db"


async def test_an_unreachable_database_is_reported_not_guessed(tmp_path: Path) -> None:
    store = receipts(tmp_path / "missing-directory" / "tracker.db")

    with pytest.raises(ReceiptsUnavailable):
        await store.first_delivery(SID)
