"""The MessageSids already received, in an SQLite file as in the tracker store's database."""

import asyncio
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, DateTime, MetaData, String, Table, create_engine, insert

from bot.components.message_receipts import (
    HANDLED,
    IN_FLIGHT,
    NEW,
    TAKEN_OVER,
    MessageReceipts,
    ReceiptsUnavailable,
)

SID = "SM" + "a" * 32
OTHER_SID = "SM" + "b" * 32
START = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
STALE_AFTER = timedelta(seconds=120)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def receipts(database: Path, clock: Clock | None = None) -> MessageReceipts:
    engine = create_engine(f"sqlite:///{database}", future=True)
    return MessageReceipts(engine, timedelta(days=30), clock or Clock(), stale_after=STALE_AFTER)


def stored(database: Path) -> list[tuple[str, str, str | None]]:
    """(message_sid, received_at, handled_at) of every row, as SQLite holds them."""
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT message_sid, received_at, handled_at FROM twilio_inbound_messages ORDER BY message_sid"
        ).fetchall()


async def test_a_sid_is_new_once(tmp_path: Path) -> None:
    store = receipts(tmp_path / "tracker.db")

    assert [await store.claim(sid) for sid in (SID, SID, OTHER_SID, SID)] == [NEW, IN_FLIGHT, NEW, IN_FLIGHT]


async def test_a_handled_sid_is_refused_for_good(tmp_path: Path) -> None:
    clock = Clock()
    store = receipts(tmp_path / "tracker.db", clock)
    assert await store.claim(SID) == NEW
    clock.now += timedelta(seconds=5)

    await store.mark_handled(SID)

    assert await store.claim(SID) == HANDLED
    clock.now += timedelta(days=1)  # long past the stale window: handled is not unfinished
    assert await store.claim(SID) == HANDLED
    assert [(sid, handled is not None) for sid, _, handled in stored(tmp_path / "tracker.db")] == [
        (SID, True)
    ]


async def test_an_unfinished_sid_is_in_flight_until_it_is_stale_then_taken_over(tmp_path: Path) -> None:
    clock = Clock()
    store = receipts(tmp_path / "tracker.db", clock)
    await store.claim(SID)  # ... and the process died: never marked handled

    clock.now = START + STALE_AFTER  # not older than the window yet: the turn may still be running
    assert await store.claim(SID) == IN_FLIGHT
    clock.now = START + STALE_AFTER + timedelta(seconds=1)
    assert await store.claim(SID) == TAKEN_OVER

    # Taken over: claimed afresh, so a retry of it now is in flight again, and once handled, refused.
    assert await store.claim(SID) == IN_FLIGHT
    await store.mark_handled(SID)
    clock.now += STALE_AFTER * 2
    assert await store.claim(SID) == HANDLED


async def test_a_stale_sid_is_taken_over_by_one_of_many_servers_at_once(tmp_path: Path) -> None:
    database = tmp_path / "tracker.db"
    clock = Clock()
    await receipts(database, clock).claim(SID)  # the server that died mid-turn
    clock.now += STALE_AFTER + timedelta(minutes=1)
    servers = [receipts(database, clock) for _ in range(8)]  # each its own engine, as its own process

    results = await asyncio.gather(*(server.claim(SID) for server in servers))

    assert sorted(results) == sorted([TAKEN_OVER] + [IN_FLIGHT] * 7)
    [(_, received_at, handled_at)] = stored(database)
    assert (received_at.startswith(clock.now.strftime("%Y-%m-%d %H:%M:%S")), handled_at) == (True, None)


async def test_the_receipts_outlive_the_process_in_the_tracker_stores_database(tmp_path: Path) -> None:
    database = tmp_path / "tracker.db"
    first = receipts(database)
    assert await first.claim(SID) == NEW
    await first.mark_handled(SID)

    assert await receipts(database).claim(SID) == HANDLED  # a new process: new engine, same file
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT message_sid FROM twilio_inbound_messages").fetchall() == [(SID,)]


async def test_two_servers_starting_together_record_a_sid_once(tmp_path: Path) -> None:
    database = tmp_path / "tracker.db"
    servers = [receipts(database) for _ in range(4)]  # none has created the table yet

    results = await asyncio.gather(*(server.claim(SID) for server in servers))

    assert sorted(results) == sorted([NEW, IN_FLIGHT, IN_FLIGHT, IN_FLIGHT])


async def test_sids_older_than_the_retention_are_forgotten(tmp_path: Path) -> None:
    clock = Clock()
    store = receipts(tmp_path / "tracker.db", clock)
    await store.claim(SID)
    await store.mark_handled(SID)
    clock.now += timedelta(days=29)
    await store.claim(OTHER_SID)
    await store.mark_handled(OTHER_SID)

    clock.now = START + timedelta(days=30, seconds=1)
    assert store.prune() == 1

    assert await store.claim(SID) == NEW  # forgotten: the signature cannot tell a replay's age
    assert await store.claim(OTHER_SID) == HANDLED


def test_the_database_is_read_from_the_tracker_store_variable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tracker.db'}"

    assert str(MessageReceipts.from_environ({"ATTUNE_TRACKER_DATABASE_URL": url}).engine.url) == url
    assert str(MessageReceipts.from_environ({}).engine.url) == "sqlite:///var/tracker.db"


async def test_an_unreachable_database_is_reported_not_guessed(tmp_path: Path) -> None:
    store = receipts(tmp_path / "missing-directory" / "tracker.db")

    with pytest.raises(ReceiptsUnavailable):
        await store.claim(SID)
    with pytest.raises(ReceiptsUnavailable):
        await store.mark_handled(SID)


# --- a table made before handled_at existed ---------------------------------------------------------


def old_table(database: Path, *sids: str) -> None:
    """The table as the previous version made it (no handled_at), with ``sids`` received an hour ago."""
    engine = create_engine(f"sqlite:///{database}", future=True)
    old = Table(
        "twilio_inbound_messages",
        MetaData(),
        Column("message_sid", String(64), primary_key=True),
        Column("received_at", DateTime(timezone=True), nullable=False, index=True),
    )
    old.metadata.create_all(engine)
    with engine.begin() as connection:
        for sid in sids:
            connection.execute(insert(old).values(message_sid=sid, received_at=START - timedelta(hours=1)))
    engine.dispose()


def columns(database: Path) -> list[str]:
    with sqlite3.connect(database) as db:
        return [row[1] for row in db.execute("PRAGMA table_info(twilio_inbound_messages)")]


async def test_an_old_table_gets_the_column_and_its_sids_stay_refused(tmp_path: Path) -> None:
    database = tmp_path / "tracker.db"
    old_table(database, SID)
    assert columns(database) == ["message_sid", "received_at"]

    store = receipts(database)
    # Received an hour ago, so older than the stale window: had it been left unhandled, a replay
    # of it would be taken over and answered again.
    assert await store.claim(SID) == HANDLED
    assert await store.claim(OTHER_SID) == NEW

    assert columns(database) == ["message_sid", "received_at", "handled_at"]
    [(_, received_at, handled_at), (_, _, other_handled_at)] = stored(database)
    assert (handled_at, other_handled_at) == (received_at, None)


async def test_two_servers_upgrading_an_old_table_together_both_work(tmp_path: Path) -> None:
    database = tmp_path / "tracker.db"
    old_table(database, SID)
    servers = [receipts(database) for _ in range(4)]

    results = await asyncio.gather(*(server.claim(OTHER_SID) for server in servers))

    assert sorted(results) == sorted([NEW, IN_FLIGHT, IN_FLIGHT, IN_FLIGHT])
    assert columns(database) == ["message_sid", "received_at", "handled_at"]
    assert [await server.claim(SID) for server in servers] == [HANDLED] * 4


async def test_a_new_table_is_made_with_the_column(tmp_path: Path) -> None:
    database = tmp_path / "tracker.db"
    store = receipts(database)

    await store.claim(SID)

    assert columns(database) == ["message_sid", "received_at", "handled_at"]
