"""Erased conversations stay erased when their queued events arrive afterwards (issue 21).

RabbitMQ keeps what the consumer has not acknowledged, and Rasa's Pika broker resends from memory
after an outage: the erased customer's events can be delivered after ``attune privacy erase``.
The Pika consumer hands them to ``ingest(..., source=None)``; the SQL broker's consumer reads them
from its table.  Both must drop them.
"""

import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session

from handoff.analytics import erased
from handoff.analytics.consumer import Consumer, drain_once
from handoff.analytics.ingest import BrokerRow, ingest
from handoff.core.migrate import alembic_config
from handoff.core.models import AnalyticsConversation, AnalyticsCsat, AnalyticsErased, AnalyticsTurn
from handoff.privacy import customers, personal_data
from tests.support.broker_events import T0, conversation, publish, user

PHONE = "+447700900123"
THEIRS = "sms:" + PHONE
OTHERS = "web:" + "d" * 32
# The erasure, a day after their conversation (T0 + 10 s … T0 + 60 s).
ERASED_AT = datetime.fromtimestamp(T0, timezone.utc) + timedelta(days=1)
RETENTION = personal_data.Retention(emotion_days=30, transcript_days=180, audit_days=730)


def rows(*events: dict[str, Any]) -> list[BrokerRow]:
    """Pika messages: the published JSON, no broker id."""
    return [BrokerRow(None, json.dumps(event)) for event in events]


def erase_them(stores: personal_data.Stores, at: datetime = ERASED_AT) -> dict[str, int]:
    return personal_data.erase(stores, f"phone:{PHONE}", now=at)


def analytics_conversations(stores: personal_data.Stores) -> dict[str, int]:
    """Each conversation's turn counter."""
    with Session(stores.handoff) as session:
        return {c.conversation_id: c.turns for c in session.scalars(select(AnalyticsConversation))}


def facts_of(stores: personal_data.Stores, conversation_id: str) -> int:
    with Session(stores.handoff) as session:
        return sum(
            len(session.scalars(select(model).where(model.conversation_id == conversation_id)).all())
            for model in (AnalyticsTurn, AnalyticsCsat)
        )


def erasures(stores: personal_data.Stores) -> list[tuple[str, datetime]]:
    with Session(stores.handoff) as session:
        found = session.execute(select(AnalyticsErased.conversation_hash, AnalyticsErased.erased_at)).all()
    return sorted((key, moment.replace(tzinfo=timezone.utc)) for key, moment in found)


@pytest.fixture
def customer(stores: personal_data.Stores) -> personal_data.Stores:
    """Their SMS conversation and another customer's, ingested before the erasure."""
    customers.resolve(
        stores.handoff, [customers.normalise("phone", PHONE)], customers.Linking(may_merge=True)
    )
    ingest(stores.handoff, rows(*conversation(THEIRS), *conversation(OTHERS)), source=None)
    assert set(analytics_conversations(stores)) == {THEIRS, OTHERS}
    return stores


def test_a_redelivered_batch_of_their_events_after_erasure_adds_nothing(
    customer: personal_data.Stores,
) -> None:
    counts = erase_them(customer)
    # The batch RabbitMQ still held: their whole conversation again, and an event at the very moment.
    replay = [*conversation(THEIRS), user(THEIRS, ERASED_AT.timestamp())]

    result = ingest(customer.handoff, rows(*replay), source=None)

    assert counts["analytics_turns"] == 3 and counts["analytics_erased"] == 3  # sms:, whatsapp:, bare
    assert (result.read, result.erased, result.skipped, result.inserted) == (14, 14, 0, 0)
    assert analytics_conversations(customer) == {OTHERS: 3}
    assert facts_of(customer, THEIRS) == 0


def test_their_events_after_the_erasure_are_ingested_and_others_never_dropped(
    customer: personal_data.Stores,
) -> None:
    erase_them(customer)
    later = ERASED_AT.timestamp() + 3600  # they write again from the same number an hour later
    batch = [*conversation(THEIRS), *conversation(THEIRS, start=later), *conversation(OTHERS, start=T0 + 5)]

    result = ingest(customer.handoff, rows(*batch), source=None)

    assert (result.read, result.erased) == (39, 13)
    assert result.inserted == 6 + 6  # their new conversation's facts, and the other's new ones
    assert analytics_conversations(customer) == {THEIRS: 3, OTHERS: 6}
    with Session(customer.handoff) as session:
        row = session.get(AnalyticsConversation, THEIRS)
        assert row is not None
        assert row.started_at.replace(tzinfo=timezone.utc).timestamp() == pytest.approx(later + 10)


def test_the_sql_broker_consumer_drops_them_too(customer: personal_data.Stores) -> None:
    assert customer.broker is not None
    erase_them(customer)
    # Published again after the erasure (the tracker store streaming them once more).
    publish(customer.broker, *conversation(THEIRS), user(OTHERS, ERASED_AT.timestamp() - 1))

    result = drain_once(Consumer(customer.handoff, customer.broker))

    assert (result.read, result.erased, result.inserted) == (14, 13, 0)
    assert set(analytics_conversations(customer)) == {OTHERS}


def test_only_the_hash_of_the_conversation_id_is_stored(customer: personal_data.Stores) -> None:
    erase_them(customer)

    with customer.handoff.connect() as connection:
        stored = [tuple(row) for row in connection.execute(text("SELECT * FROM analytics_erased"))]

    expected = {hashlib.sha256(c.encode()).hexdigest() for c in (THEIRS, "whatsapp:" + PHONE, PHONE)}
    assert {row[0] for row in stored} == expected
    assert not any(PHONE.lstrip("+") in str(value) for row in stored for value in row)


def test_a_second_erasure_moves_erased_at_forward_never_back(customer: personal_data.Stores) -> None:
    erase_them(customer)
    # They came back and were erased again a week later; then a stale clock replays an old erasure.
    customers.resolve(
        customer.handoff, [customers.normalise("phone", PHONE)], customers.Linking(may_merge=True)
    )
    erase_them(customer, ERASED_AT + timedelta(days=7))
    with Session(customer.handoff) as session, session.begin():
        erased.record(session, [THEIRS], ERASED_AT)

    assert {moment for _, moment in erasures(customer)} == {ERASED_AT + timedelta(days=7)}
    result = ingest(customer.handoff, rows(user(THEIRS, (ERASED_AT + timedelta(days=3)).timestamp())), None)
    assert result.erased == 1


def test_retention_forgets_erasures_older_than_the_transcript_period(customer: personal_data.Stores) -> None:
    erase_them(customer)
    other = customers.resolve(
        customer.handoff, [customers.normalise("session", OTHERS)], customers.Linking(may_merge=True)
    )
    assert other.customer is not None
    personal_data.erase(customer, other.customer, now=ERASED_AT + timedelta(days=100))

    counts = personal_data.purge(customer, RETENTION, now=ERASED_AT + timedelta(days=181))

    assert counts["analytics_erased_deleted"] == 3
    assert [key for key, _ in erasures(customer)] == [erased.conversation_hash(OTHERS)]


def test_dropping_is_logged_as_a_count_without_ids(
    customer: personal_data.Stores, caplog: pytest.LogCaptureFixture
) -> None:
    erase_them(customer)

    with caplog.at_level(logging.INFO, logger="handoff.analytics.ingest"):
        ingest(customer.handoff, rows(*conversation(THEIRS)), source=None)

    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert messages == ["analytics dropped 13 events of erased conversations"]
    assert not any(PHONE in r.getMessage() for r in caplog.records)


def test_migration_0025_creates_the_table_and_goes_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    command.upgrade(alembic_config(url), "0025")
    engine = create_engine(url)
    assert {c["name"] for c in inspect(engine).get_columns("analytics_erased")} == {
        "conversation_hash",
        "erased_at",
    }
    command.downgrade(alembic_config(url), "0024")
    assert not inspect(create_engine(url)).has_table("analytics_erased")
