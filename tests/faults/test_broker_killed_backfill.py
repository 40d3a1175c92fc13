"""Rasa killed -9 with events still queued for the broker; ``attune analytics backfill`` recovers them.

A process saves conversations through Rasa's tracker store with ``QueuedSQLEventBroker``
(tests/support/queued_publisher.py).  The broker's database is locked half-way, so the second half
of the events stays in the broker's queue while the tracker store has them; then the process is
killed with SIGKILL.  The consumer ingests what reached the broker, the backfill the rest: the
analytics tables equal those of a clean run, and a second backfill, or the consumer again, changes
nothing.
"""

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.analytics.backfill import published_form
from handoff.analytics.consumer import Consumer, broker_engine, drain
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import (
    AnalyticsCallback,
    AnalyticsConversation,
    AnalyticsCsat,
    AnalyticsEscalation,
    AnalyticsExposure,
    AnalyticsTurn,
)
from tests.support.broker_events import T0

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
CONVERSATIONS = 6  # half written before the lock, then their rest and as many again whole
EVENTS_EACH = 13
TABLES = (
    AnalyticsConversation,
    AnalyticsTurn,
    AnalyticsEscalation,
    AnalyticsCallback,
    AnalyticsCsat,
    AnalyticsExposure,
)
PUBLISHER = [sys.executable, "-m", "tests.support.queued_publisher"]


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every analytics row, without the autoincrement ids (which depend on insertion order)."""
    found = {}
    with Session(engine) as session:
        for model in TABLES:
            columns = [c for c in inspect(model).columns if c.name != "id"]
            found[model.__tablename__] = sorted(
                (tuple(row) for row in session.execute(select(*columns))), key=repr
            )
    return found


def analytics_database(path: Path) -> Engine:
    url = f"sqlite:///{path}"
    upgrade_to_head(url)
    return create_engine_for(url)


def run_publisher(tmp: Path, hold: bool) -> subprocess.Popen[str]:
    command = [
        *PUBLISHER,
        str(tmp / "tracker.db"),
        str(tmp / "events.db"),
        "--conversations",
        str(CONVERSATIONS // 2),
    ]
    return subprocess.Popen(
        [*command, *(["--hold"] if hold else [])],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def expect_line(process: subprocess.Popen[str], prefix: str) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"the publisher exited ({process.wait()}) before printing {prefix}")


@contextlib.contextmanager
def locked(database: Path) -> Iterator[None]:
    """The broker's database held under an exclusive lock: its writes fail (after SQLite's 5 s wait)."""
    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def backfill_command(directory: Path, since: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ATTUNE_HANDOFF_DATABASE_URL": f"sqlite:///{directory / 'handoff.db'}",
        "ATTUNE_TRACKER_DATABASE_URL": f"sqlite:///{directory / 'tracker.db'}",
        "ATTUNE_EVENT_BROKER_URL": f"sqlite:///{directory / 'events.db'}",
    }
    command = [sys.executable, "-m", "bot.cli", "analytics", "backfill", "--since", since]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def tracker_events(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        rows = connection.execute("SELECT sender_id, data FROM events ORDER BY id").fetchall()
    return [published_form(sender, data) for sender, data in rows]


def broker_rows(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return [row[0] for row in connection.execute("SELECT data FROM events ORDER BY id")]


def test_rasa_killed_with_events_queued_then_backfill_equals_a_clean_run(tmp_path: Path) -> None:
    assert T0 > 1_795_996_800  # 2026-11-30T00:00Z, the --since below
    clean_dir, crash_dir = tmp_path / "clean", tmp_path / "crash"
    clean_dir.mkdir()
    crash_dir.mkdir()

    clean = run_publisher(clean_dir, hold=False)
    expect_line(clean, "CLOSED")
    assert clean.wait(timeout=60) == 0
    clean_analytics = analytics_database(clean_dir / "handoff.db")
    drain(Consumer(clean_analytics, broker_engine(f"sqlite:///{clean_dir / 'events.db'}")))
    expected = snapshot(clean_analytics)
    # The broker published exactly what the tracker store keeps, in the same order and bytes.
    assert broker_rows(clean_dir / "events.db") == tracker_events(clean_dir / "tracker.db")
    assert len(expected["analytics_turns"]) == 3 * CONVERSATIONS

    crash = run_publisher(crash_dir, hold=True)
    try:
        expect_line(crash, "DRAINED")
        with locked(crash_dir / "events.db"):
            assert crash.stdin is not None
            crash.stdin.write("go\n")
            crash.stdin.flush()
            queued = int(expect_line(crash, "QUEUED").split()[1])
            crash.send_signal(signal.SIGKILL)
            assert crash.wait(timeout=30) == -signal.SIGKILL
    finally:
        if crash.poll() is None:
            crash.kill()
    stored = tracker_events(crash_dir / "tracker.db")
    delivered = broker_rows(crash_dir / "events.db")
    assert len(stored) == EVENTS_EACH * CONVERSATIONS
    assert queued == len(stored) - len(delivered) > 0, "events were queued, and lost with the process"
    assert delivered == stored[: len(delivered)]

    analytics = analytics_database(crash_dir / "handoff.db")
    drain(Consumer(analytics, broker_engine(f"sqlite:///{crash_dir / 'events.db'}")))
    before = snapshot(analytics)
    assert before != expected
    assert len(before["analytics_turns"]) < len(expected["analytics_turns"])

    first = backfill_command(crash_dir, "2026-11-30T00:00:00Z")  # T0 is 2026-11-30T06:13Z
    assert first.returncode == 0, first.stderr
    assert f"{len(stored)} tracker events of {CONVERSATIONS} conversations read" in first.stdout
    assert snapshot(analytics) == expected

    # From ten minutes before the broker's last event: here that is every event again.
    second = backfill_command(crash_dir, "broker")
    assert second.returncode == 0, second.stderr
    assert f"{len(stored)} tracker events of {CONVERSATIONS} conversations read, 0 missing" in second.stdout
    drain(Consumer(analytics, broker_engine(f"sqlite:///{crash_dir / 'events.db'}")))
    assert snapshot(analytics) == expected
