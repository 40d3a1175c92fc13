"""The analytics consumer over a synthetic SQL broker table: rows, idempotence, crashes, hostile rows."""

import json
import math
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.analytics import events
from handoff.analytics.consumer import Consumer, drain, drain_once
from handoff.analytics.ingest import SQL_BROKER, BrokerRow, ingest, position, read_batch
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import (
    AnalyticsCallback,
    AnalyticsConversation,
    AnalyticsCsat,
    AnalyticsCursor,
    AnalyticsEscalation,
    AnalyticsTurn,
)
from tests.support.broker_events import T0, broker, conversation, publish, publish_raw, record, slot, user

WEB = "web:" + "a" * 32
SMS = "sms:+447700900123"


@pytest.fixture
def analytics(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    return create_engine_for(url)


@pytest.fixture
def consumer(tmp_path: Path, analytics: Engine) -> Consumer:
    return Consumer(analytics, broker(tmp_path / "events.db"), batch_size=4)


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every analytics row, without the surrogate ids."""
    found = {}
    with engine.connect() as connection:
        for table in ("analytics_conversations", "analytics_turns", "analytics_escalations"):
            rows = connection.execute(text(f"SELECT * FROM {table}")).mappings().all()
            found[table] = sorted(tuple(v for k, v in row.items() if k != "id") for row in rows)
        for table in ("analytics_callbacks", "analytics_csat"):
            rows = connection.execute(text(f"SELECT * FROM {table}")).mappings().all()
            found[table] = sorted(tuple(v for k, v in row.items() if k != "id") for row in rows)
    return found


def test_a_conversation_becomes_its_rows(consumer: Consumer) -> None:
    publish(consumer.broker, *conversation(WEB), *conversation(SMS, start=T0 + 1000, consent=False))

    assert drain(consumer) == 2 * 13

    with Session(consumer.analytics) as session:
        web = session.get(AnalyticsConversation, WEB)
        sms = session.get(AnalyticsConversation, SMS)
        turns = session.execute(select(AnalyticsTurn).order_by(AnalyticsTurn.id)).scalars().all()
        escalations = session.execute(select(AnalyticsEscalation)).scalars().all()
        callbacks = session.execute(select(AnalyticsCallback.conversation_id, AnalyticsCallback.status)).all()
        csat = session.execute(select(AnalyticsCsat.score, AnalyticsCsat.comment)).all()
        cursor = session.get(AnalyticsCursor, SQL_BROKER)
    assert (web.channel, web.turns, web.escalations, web.first_escalation_turn) == ("web", 3, 1, 3)
    assert web.handoff_status == "delivered" and sms.channel == "sms"
    assert web.started_at.timestamp() == pytest.approx(T0 + 10)
    assert web.last_event_at.timestamp() == pytest.approx(T0 + 60)
    web_turns = [t for t in turns if t.conversation_id == WEB]
    assert [(t.turn, t.intent, t.outcome, t.tone, t.decision) for t in web_turns] == [
        (1, "order_status", None, "neutral", "none"),
        (2, "order_status", "order_not_found", "apologetic", "none"),
        (3, "order_status", "order_not_found", "apologetic", "offer_human"),
    ]
    assert [(t.frustration, t.distress, t.emotion_processing) for t in web_turns][1] == (0.4, 0.013, "on")
    # The opted-out customer: their turns are counted, with no scores.
    sms_turns = [t for t in turns if t.conversation_id == SMS]
    assert [(t.emotion_processing, t.frustration, t.distress) for t in sms_turns] == [("off", None, None)] * 3
    assert sorted((e.conversation_id, e.decision, e.reason, e.turn) for e in escalations) == [
        (SMS, "offer_human", "frustration", 3),
        (WEB, "offer_human", "frustration", 3),
    ]
    assert sorted(callbacks) == [(SMS, "booked"), (WEB, "booked")]
    assert csat == [(4, "quick, thanks"), (4, "quick, thanks")]
    assert cursor.position == 26


def test_running_again_from_the_start_adds_nothing(consumer: Consumer) -> None:
    publish(consumer.broker, *conversation(WEB), *conversation(SMS))
    drain(consumer)
    first = snapshot(consumer.analytics)

    # The cursor lost (a restore, a second consumer): every event is delivered a second time.
    with consumer.analytics.begin() as connection:
        connection.execute(text("UPDATE analytics_cursor SET position = 0"))
    again = drain(consumer)

    assert again == 26
    assert snapshot(consumer.analytics) == first
    assert drain(consumer) == 0


def test_a_batch_killed_before_its_commit_leaves_nothing_and_is_read_again(consumer: Consumer) -> None:
    publish(consumer.broker, *conversation(WEB))

    def killed() -> None:
        raise SystemExit("killed between the rows and the cursor's commit")

    rows = read_batch(consumer.broker, 0, 100)
    with pytest.raises(SystemExit):
        ingest(consumer.analytics, rows, before_commit=killed)

    assert position(consumer.analytics) == 0
    assert snapshot(consumer.analytics)["analytics_turns"] == []
    drain(consumer)
    assert len(snapshot(consumer.analytics)["analytics_turns"]) == 3
    with Session(consumer.analytics) as session:
        assert session.get(AnalyticsConversation, WEB).turns == 3


def test_rows_committed_without_their_cursor_are_not_counted_twice(consumer: Consumer) -> None:
    """A source with no cursor in the same database (the Pika broker) redelivers: the keys absorb it."""
    publish(consumer.broker, *conversation(WEB))
    rows = read_batch(consumer.broker, 0, 100)

    ingest(consumer.analytics, rows[:10], source=None)
    ingest(consumer.analytics, rows, source=None)  # the first ten again, and the rest

    with Session(consumer.analytics) as session:
        web = session.get(AnalyticsConversation, WEB)
        assert (web.turns, web.escalations) == (3, 1)
    assert len(snapshot(consumer.analytics)["analytics_turns"]) == 3


def test_a_batch_behind_the_cursor_is_trimmed_to_what_is_new(consumer: Consumer) -> None:
    publish(consumer.broker, *conversation(WEB))
    rows = read_batch(consumer.broker, 0, 100)
    ingest(consumer.analytics, rows[:8])

    result = ingest(consumer.analytics, rows)  # read before the other consumer moved the cursor

    assert (result.read, result.position) == (5, 13)


def test_hostile_rows_are_skipped_and_the_batch_goes_on(consumer: Consumer) -> None:
    for data in ("not json", "[1, 2]", json.dumps({"event": "user", "timestamp": T0}), "9" * 2_000_000):
        publish_raw(consumer.broker, WEB, data)
    publish_raw(consumer.broker, WEB, '{"sender_id": "x", "timestamp": NaN}')
    publish(
        consumer.broker,
        user(WEB, 1e30),
        user("\x00bad", T0),
        user("a" * 256, T0),
        slot(WEB, T0, "turn_record", record(0)),
        slot(WEB, T0, "turn_record", record(True)),  # type: ignore[arg-type]  # hostile on purpose
        slot(WEB, T0, "turn_record", {**record(2), "intent": "x" * 65, "confidence": math.inf}),
        slot(WEB, T0, "turn_record", {**record(3, consent=False), "frustration": 0.9, "distress": 0.9}),
        slot(WEB, T0, "csat_answer", {"score": 9}),
        slot(WEB, T0, "csat_answer", {"score": True}),
        slot(WEB, T0, "csat_answer", {"score": 2, "comment": 5}),
        slot(WEB, T0, "csat_answer", {"score": 1, "comment": "bad\x00\x1b[31m\nvery"}),
        slot(WEB, T0, "handoff_status", "exploded"),
        slot(WEB, T0, "empathy_explanation", {"decision": {"decision": "none"}}),
        slot(WEB, T0 + 1, "turn_record", record(4, frustration=7.0)),
    )

    drain(consumer)

    with Session(consumer.analytics) as session:
        turns = session.execute(select(AnalyticsTurn).order_by(AnalyticsTurn.turn)).scalars().all()
        csat = session.execute(select(AnalyticsCsat.score, AnalyticsCsat.comment)).all()
        conversation_row = session.get(AnalyticsConversation, WEB)
        escalations = session.execute(select(AnalyticsEscalation)).scalars().all()
    assert [(t.turn, t.intent, t.confidence) for t in turns] == [
        (2, None, None),
        (3, "order_status", 0.951),
        (4, "order_status", 0.951),
    ]
    # No consent, no scores, whatever the record claims; a score out of 0-1 is not stored.
    assert (turns[1].frustration, turns[1].distress) == (None, None)
    assert (turns[2].frustration, turns[2].distress) == (None, 0.013)
    assert csat == [(1, "bad[31m\nvery")]
    assert conversation_row.handoff_status is None and escalations == []
    assert position(consumer.analytics) == 19


def test_the_broker_table_may_not_exist_yet(tmp_path: Path, analytics: Engine) -> None:
    empty = Consumer(analytics, create_engine_for(f"sqlite:///{tmp_path / 'none.db'}"))
    assert drain_once(empty).read == 0 and position(analytics) == 0


def test_the_event_key_is_the_published_json() -> None:
    one = json.dumps(slot(WEB, T0, "turn_record", record(1)))
    later = json.dumps(slot(WEB, T0 + 1, "turn_record", record(1)))
    assert events.event_key(one) == events.event_key(one) != events.event_key(later)
    parsed = events.parse(one)
    assert parsed is not None and parsed.event_key == events.event_key(one)


def test_escalation_reasons_follow_the_handoff_payload() -> None:
    assert events.reason_of("handoff", "") == "customer_request"
    assert events.reason_of("offer_callback", "distress 0.8") == "distress"
    assert events.reason_of("offer_human", "frustration 0.7 over 0.6") == "frustration"
    assert events.reason_of("offer_human", "self-service failed twice") == "failed_self_service"


def test_a_pika_message_has_no_id_and_no_cursor(consumer: Consumer) -> None:
    data = json.dumps(slot(WEB, T0, "turn_record", record(1)))
    for _ in range(3):
        ingest(consumer.analytics, [BrokerRow(None, data)], source=None)
    assert position(consumer.analytics) == 0
    assert len(snapshot(consumer.analytics)["analytics_turns"]) == 1
