"""``attune analytics backfill``: tracker-store events through the consumer's ingest, exactly once.

The tracker store here is Rasa's SQL table filled as ``SQLTrackerStore.save`` fills it
(``json.dumps(event.as_dict())``, no sender in the JSON); tests/faults/test_broker_killed_backfill.py
does the same with Rasa itself and a process killed -9.
"""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from bot import cli
from handoff.analytics.backfill import BROKER_MARGIN, after_last_broker_event, backfill, published_form
from handoff.analytics.cli import since_time
from handoff.analytics.consumer import Consumer, drain
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from tests.support.broker_events import T0, broker, conversation, publish

WEB = "web:" + "b" * 32
SMS = "sms:+447700900456"
# Rasa's SQLTrackerStore.SQLEvent table.
TRACKER_TABLE = (
    "CREATE TABLE events (id INTEGER NOT NULL PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
    "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
    "action_name VARCHAR(255), data TEXT)"
)
FACTS_EACH = 6  # rows of broker_events' conversation: 3 turns, an escalation, a call-back, a CSAT answer
SINCE = datetime.fromtimestamp(T0 - 1, timezone.utc)
TABLES = (
    "analytics_conversations",
    "analytics_turns",
    "analytics_escalations",
    "analytics_callbacks",
    "analytics_csat",
    "analytics_exposures",
)


def analytics_database(path: Path) -> Engine:
    url = f"sqlite:///{path}"
    upgrade_to_head(url)
    return create_engine_for(url)


def tracker_store(path: Path, *events: dict[str, Any]) -> Engine:
    engine = create_engine(f"sqlite:///{path}", future=True)
    with engine.begin() as connection:
        connection.execute(text(TRACKER_TABLE))
    store(engine, *events)
    return engine


def store(engine: Engine, *events: dict[str, Any]) -> None:
    with engine.begin() as connection:
        for event in events:
            own = {k: v for k, v in event.items() if k != "sender_id"}
            connection.execute(
                text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, :t, :at, :d)"),
                {"s": event["sender_id"], "t": own["event"], "at": own["timestamp"], "d": json.dumps(own)},
            )


def store_raw(engine: Engine, sender: str, data: str | None, at: float = T0 + 5) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, 'slot', :at, :d)"),
            {"s": sender, "at": at, "d": data},
        )


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    found = {}
    with engine.connect() as connection:
        for table in TABLES:
            rows = connection.execute(text(f"SELECT * FROM {table}")).mappings().all()
            found[table] = sorted((tuple(v for k, v in row.items() if k != "id") for row in rows), key=repr)
    return found


def conversations() -> list[dict[str, Any]]:
    """Two conversations, the second with non-ASCII words and a microsecond timestamp."""
    second = conversation(SMS, start=T0 + 1000.123456, consent=False)
    for event in second:
        if event["event"] == "user":
            event["text"] = "où est ma commande ? ✓"
    return [*conversation(WEB), *second]


def test_the_published_form_is_the_brokers_text_byte_for_byte() -> None:
    for event in conversations():
        own = {k: v for k, v in event.items() if k != "sender_id"}
        assert published_form(event["sender_id"], json.dumps(own)) == json.dumps(event)


@pytest.mark.parametrize("stored", [None, "", "{broken", "[1, 2]", '"text"', "null"])
def test_a_stored_row_that_is_not_an_event_has_no_published_form(stored: str | None) -> None:
    assert published_form(WEB, stored) == ""


def test_backfill_adds_what_the_broker_lost_and_a_second_run_adds_nothing(tmp_path: Path) -> None:
    everything = conversations()
    clean = analytics_database(tmp_path / "clean.db")
    clean_broker = broker(tmp_path / "clean-events.db")
    publish(clean_broker, *everything)
    drain(Consumer(clean, clean_broker))
    expected = snapshot(clean)

    analytics = analytics_database(tmp_path / "handoff.db")
    lossy = broker(tmp_path / "events.db")
    publish(lossy, *everything[:8])  # Rasa died with the rest queued
    drain(Consumer(analytics, lossy))
    tracker = tracker_store(tmp_path / "tracker.db", *everything)
    assert snapshot(analytics) != expected

    first = backfill(analytics, tracker, SINCE, page_size=5)
    assert (first.read, first.skipped, first.conversations) == (26, 0, {WEB, SMS})
    assert first.inserted == 2 * FACTS_EACH - 3  # the broker had the first conversation's 3 turns
    assert snapshot(analytics) == expected

    second = backfill(analytics, tracker, SINCE, page_size=5)
    assert (second.read, second.inserted) == (26, 0)
    assert snapshot(analytics) == expected


def test_only_events_since_the_moment_are_read(tmp_path: Path) -> None:
    analytics = analytics_database(tmp_path / "handoff.db")
    tracker = tracker_store(tmp_path / "tracker.db", *conversations())

    result = backfill(analytics, tracker, datetime.fromtimestamp(T0 + 1000, timezone.utc))

    assert (result.read, result.conversations) == (13, {SMS})
    assert [row[0] for row in snapshot(analytics)["analytics_conversations"]] == [SMS]


def test_hostile_rows_are_skipped_one_at_a_time(tmp_path: Path) -> None:
    analytics = analytics_database(tmp_path / "handoff.db")
    tracker = tracker_store(tmp_path / "tracker.db")
    store_raw(tracker, WEB, "{not json")
    store_raw(tracker, WEB, None)
    store_raw(tracker, WEB, json.dumps({"event": "slot", "timestamp": 1e30, "name": "csat_answer"}))
    store_raw(tracker, WEB, json.dumps({"event": "slot", "timestamp": T0, "name": "csat_answer", "value": 9}))
    store(tracker, *conversation(WEB))

    result = backfill(analytics, tracker, SINCE)

    assert (result.read, result.skipped) == (4 + 13, 3)  # the CSAT of 9 is an event without a fact
    assert len(snapshot(analytics)["analytics_csat"]) == 1


def test_a_tracker_store_without_its_table_gives_nothing(tmp_path: Path) -> None:
    analytics = analytics_database(tmp_path / "handoff.db")
    empty = create_engine(f"sqlite:///{tmp_path / 'tracker.db'}", future=True)

    assert backfill(analytics, empty, SINCE).read == 0


def test_since_takes_iso_times_in_utc_unless_zoned() -> None:
    assert since_time("2026-11-30T06:00:00Z") == datetime(2026, 11, 30, 6, tzinfo=timezone.utc)
    assert since_time("2026-11-30T06:00") == datetime(2026, 11, 30, 6, tzinfo=timezone.utc)
    assert since_time("2026-11-30T07:00:00+01:00") == datetime(2026, 11, 30, 6, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("yesterday", "not an ISO 8601 time or 'broker'"),
        ("2026-13-01", "not an ISO 8601 time"),
        ("1999-12-31T23:00Z", "before 2000 or in the future"),
        ((datetime.now(timezone.utc) + timedelta(days=1)).isoformat(), "before 2000 or in the future"),
    ],
)
def test_a_wrong_since_is_refused_with_the_reason(
    value: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["analytics", "backfill", "--since", value])
    assert exit_.value.code == 2
    assert reason in capsys.readouterr().err


def test_the_command_refuses_a_missing_tracker_store_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-tracker.db"
    argv = ["--database-url", f"sqlite:///{tmp_path / 'handoff.db'}", "--tracker-url", f"sqlite:///{missing}"]

    assert cli.main(["analytics", "backfill", "--since", "2026-11-30", *argv]) == 2

    assert "no tracker store" in capsys.readouterr().err
    assert not missing.exists()


def test_the_command_backfills_and_says_how_much(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tracker_store(tmp_path / "tracker.db", *conversations())
    argv = [
        "--database-url", f"sqlite:///{tmp_path / 'handoff.db'}",
        "--tracker-url", f"sqlite:///{tmp_path / 'tracker.db'}",
    ]  # fmt: skip

    assert cli.main(["analytics", "backfill", "--since", "2026-11-30T00:00:00Z", *argv]) == 0
    assert "26 tracker events of 2 conversations read, 12 missing fact rows added" in capsys.readouterr().out
    assert cli.main(["analytics", "backfill", "--since", "2026-11-30T00:00:00Z", *argv]) == 0
    assert "26 tracker events of 2 conversations read, 0 missing fact rows added" in capsys.readouterr().out


def test_since_broker_starts_a_margin_before_the_brokers_last_event(tmp_path: Path) -> None:
    lossy = broker(tmp_path / "events.db")
    assert after_last_broker_event(lossy) is None
    everything = conversations()
    publish(lossy, *everything[:17])

    last = datetime.fromtimestamp(everything[16]["timestamp"], timezone.utc)
    assert after_last_broker_event(lossy) == last - BROKER_MARGIN


def test_the_command_from_the_brokers_last_event_reads_only_from_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    everything = conversations()
    tracker_store(tmp_path / "tracker.db", *everything)
    publish(broker(tmp_path / "events.db"), *everything[:17])  # into the second conversation
    argv = [
        "--database-url", f"sqlite:///{tmp_path / 'handoff.db'}",
        "--tracker-url", f"sqlite:///{tmp_path / 'tracker.db'}",
        "--broker-url", f"sqlite:///{tmp_path / 'events.db'}",
    ]  # fmt: skip

    assert cli.main(["analytics", "backfill", "--since", "broker", *argv]) == 0

    # The first conversation ended more than BROKER_MARGIN before the broker's last event.
    assert "13 tracker events of 1 conversations read, 6 missing fact rows added" in capsys.readouterr().out


def test_since_broker_with_no_broker_events_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tracker_store(tmp_path / "tracker.db", *conversations())
    argv = [
        "--database-url", f"sqlite:///{tmp_path / 'handoff.db'}",
        "--tracker-url", f"sqlite:///{tmp_path / 'tracker.db'}",
        "--broker-url", f"sqlite:///{tmp_path / 'no-events.db'}",
    ]  # fmt: skip

    assert cli.main(["analytics", "backfill", "--since", "broker", *argv]) == 2

    assert "give --since a time" in capsys.readouterr().err


def test_a_backfill_after_an_erasure_leaves_the_erased_conversation_out(tmp_path: Path) -> None:
    """The tracker store may still hold an erased conversation's events (its own purge lags, or the
    operator backfills from a copy): the backfill must not bring its analytics rows back.
    """
    from sqlalchemy.orm import Session

    from handoff.analytics import erased

    analytics = analytics_database(tmp_path / "handoff.db")
    tracker = tracker_store(tmp_path / "tracker.db", *conversations())
    with Session(analytics) as session, session.begin():
        erased.record(session, [SMS], now=datetime.fromtimestamp(T0 + 100_000, timezone.utc))

    result = backfill(analytics, tracker, SINCE)

    with analytics.connect() as connection:
        senders = set(
            connection.execute(text("SELECT conversation_id FROM analytics_conversations")).scalars()
        )
    assert senders == {WEB}
    assert result.erased == sum(1 for event in conversations() if event["sender_id"] == SMS)
