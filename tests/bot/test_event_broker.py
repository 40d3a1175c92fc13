"""The queued SQL event broker (bot/components/event_broker.py) against real SQLite files.

Faults are real database faults: the table renamed away (the database fails every write) and a
CHECK constraint (the database refuses one row).
"""

import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot import launcher
from bot.components.event_broker import QueuedSQLEventBroker
from handoff.analytics.consumer import Consumer, broker_engine, drain
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import AnalyticsConversation, AnalyticsCsat, AnalyticsTurn
from tests.support.broker_events import T0, conversation

Make = Callable[..., QueuedSQLEventBroker]
TYPE = "bot.components.event_broker.QueuedSQLEventBroker"


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Make]:
    made: list[QueuedSQLEventBroker] = []

    def build(**options: Any) -> QueuedSQLEventBroker:
        broker = QueuedSQLEventBroker(db=str(tmp_path / "events.db"), **options)
        made.append(broker)
        return broker

    yield build
    for broker in made:
        await broker.close()


def event(sender: str, n: int) -> dict[str, Any]:
    return {"sender_id": sender, "event": "slot", "timestamp": T0 + n, "name": "n", "value": n}


def stored(path: Path) -> list[tuple[str | None, dict[str, Any]]]:
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT sender_id, data FROM events ORDER BY id")).all()
    engine.dispose()
    return [(row[0], json.loads(row[1])) for row in rows]


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def rename_table(path: Path, old: str, new: str) -> None:
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))
    engine.dispose()


async def test_events_are_stored_in_publish_order_across_many_batches(make: Make, tmp_path: Path) -> None:
    broker = make(batch_size=3, linger_seconds=0)
    published = [event(f"web:{n % 3}", n) for n in range(50)]

    for each in published:
        broker.publish(each)
    await broker.close()

    assert stored(tmp_path / "events.db") == [(e["sender_id"], e) for e in published]
    assert broker.dropped == 0


async def test_publish_returns_before_the_write_and_close_writes_everything_queued(
    make: Make, tmp_path: Path
) -> None:
    broker = make(linger_seconds=60)  # the writer would wait a minute for a full batch
    for n in range(7):
        broker.publish(event("web:a", n))
    assert broker.queued == 7
    assert stored(tmp_path / "events.db") == []

    started = time.monotonic()
    await broker.close()

    assert time.monotonic() - started < 5  # a close cuts the linger short
    assert [data["value"] for _, data in stored(tmp_path / "events.db")] == list(range(7))
    assert broker.queued == 0


async def test_a_failing_database_is_retried_and_nothing_is_lost_or_reordered(
    make: Make, tmp_path: Path
) -> None:
    path = tmp_path / "events.db"
    broker = make(batch_size=2, linger_seconds=0, retry_seconds=0.01)
    broker.publish(event("web:a", 0))
    wait_until(lambda: broker.queued == 0)
    rename_table(path, "events", "away")  # every write now fails: "no such table: events"

    for n in range(1, 6):
        broker.publish(event("web:a", n))
    wait_until(lambda: broker._failing)
    assert broker.queued == 5
    rename_table(path, "away", "events")
    wait_until(lambda: broker.queued == 0)
    broker.publish(event("web:a", 6))
    await broker.close()

    assert [data["value"] for _, data in stored(path)] == list(range(7))
    assert broker.dropped == 0 and not broker._failing


async def test_a_full_queue_with_a_working_database_is_written_by_publish_in_order(
    make: Make, tmp_path: Path
) -> None:
    broker = make(max_queued=4, batch_size=100, linger_seconds=60)
    for n in range(5):  # the fifth finds the queue full
        broker.publish(event("web:a", n))

    assert broker.queued == 0
    assert [data["value"] for _, data in stored(tmp_path / "events.db")] == list(range(5))
    broker.publish(event("web:a", 5))
    assert broker.queued == 1  # queued again once there is room
    await broker.close()
    assert [data["value"] for _, data in stored(tmp_path / "events.db")] == list(range(6))
    assert broker.dropped == 0


async def test_a_full_queue_while_the_database_fails_drops_counted_events_and_keeps_the_rest(
    make: Make, tmp_path: Path
) -> None:
    path = tmp_path / "events.db"
    broker = make(max_queued=3, batch_size=100, linger_seconds=0, retry_seconds=0.01)
    rename_table(path, "events", "away")
    broker.publish(event("web:a", 0))
    wait_until(lambda: broker._failing)
    broker.publish(event("web:a", 1))
    broker.publish(event("web:a", 2))

    started = time.monotonic()
    broker.publish(event("web:a", 3))  # full, and the database is failing: dropped at once
    assert time.monotonic() - started < 0.5
    assert (broker.dropped, broker.queued) == (1, 3)

    rename_table(path, "away", "events")
    await broker.close()
    assert [data["value"] for _, data in stored(path)] == [0, 1, 2]


async def test_a_row_the_database_refuses_is_dropped_alone(make: Make, tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:  # PostgreSQL's VARCHAR(255), which SQLite does not enforce
        connection.execute(
            text(
                "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) "
                "CHECK (length(sender_id) <= 255), data TEXT)"
            )
        )
    engine.dispose()
    broker = make(batch_size=10, linger_seconds=60)

    for sender in ("web:a", "x" * 300, "web:b"):
        broker.publish(event(sender, 0))
    await broker.close()

    assert [sender for sender, _ in stored(path)] == ["web:a", "web:b"]
    assert broker.dropped == 1


async def test_an_event_that_is_not_json_is_dropped_counted_and_publish_does_not_raise(
    make: Make, tmp_path: Path
) -> None:
    broker = make(linger_seconds=0)

    broker.publish({"sender_id": "web:a", "event": "slot", "value": object()})
    broker.publish({"sender_id": 7, "event": "slot", "value": float("nan")})
    await broker.close()

    assert broker.dropped == 1
    assert [sender for sender, _ in stored(tmp_path / "events.db")] == ["7"]


@pytest.mark.parametrize("bad", [{"max_queued": 0}, {"batch_size": -1}, {"max_queued": "many"}])
def test_bad_queue_settings_fail_at_start(tmp_path: Path, bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        QueuedSQLEventBroker(db=str(tmp_path / "events.db"), **bad)


async def test_rasa_builds_it_from_endpoints_yml_keys(tmp_path: Path) -> None:
    config = EndpointConfig(type=TYPE, dialect="sqlite", db=str(tmp_path / "e.db"), max_queued=5)

    broker = await EventBroker.create(config)

    assert isinstance(broker, QueuedSQLEventBroker)
    assert broker.max_queued == 5 and broker.is_ready()
    await broker.close()
    assert not broker.is_ready()


def test_the_repository_endpoints_use_it_and_the_launcher_points_it_at_var(tmp_path: Path) -> None:
    written = yaml.safe_load(launcher.write_endpoints(tmp_path, launcher.Ports(5005, 5055, 5056)).read_text())

    assert written["event_broker"]["type"] == TYPE
    assert written["event_broker"]["db"] == str(tmp_path / "events.db")


@pytest.fixture
def analytics(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    return create_engine_for(url)


async def test_the_analytics_consumer_reads_what_it_wrote(
    make: Make, tmp_path: Path, analytics: Engine
) -> None:
    broker = make(batch_size=4, linger_seconds=0)
    for each in conversation("web:" + "a" * 32) + conversation("sms:+447700900123", consent=False):
        broker.publish(each)
    await broker.close()

    read = drain(Consumer(analytics, broker_engine(f"sqlite:///{tmp_path / 'events.db'}"), batch_size=5))

    assert read == 2 * len(conversation("x"))
    with Session(analytics) as session:
        assert session.scalar(select(func.count()).select_from(AnalyticsConversation)) == 2
        assert session.scalar(select(func.count()).select_from(AnalyticsTurn)) == 6
        assert session.scalars(select(AnalyticsCsat.score)).all() == [4, 4]
