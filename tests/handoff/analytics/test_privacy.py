"""``attune privacy`` over the analytics tables and the SQL broker's raw events table."""

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.orm import Session

from handoff.analytics.consumer import Consumer, drain
from handoff.core.models import AnalyticsConversation, AnalyticsTurn
from handoff.privacy import customers, personal_data
from tests.support.broker_events import conversation, publish

NOW = datetime(2027, 6, 1, tzinfo=timezone.utc)
RETENTION = personal_data.Retention(emotion_days=30, transcript_days=180, audit_days=730)
THEIRS = "web:" + "c" * 32
OTHERS = "web:" + "d" * 32


def ingest(stores: personal_data.Stores, *groups: tuple[str, float]) -> None:
    assert stores.broker is not None
    for sender, start in groups:
        publish(stores.broker, *conversation(sender, start=start))
    drain(Consumer(stores.handoff, stores.broker))


def broker_senders(stores: personal_data.Stores) -> list[str]:
    assert stores.broker is not None
    with stores.broker.connect() as connection:
        return sorted({row[0] for row in connection.execute(text("SELECT sender_id FROM events"))})


def analytics_conversations(stores: personal_data.Stores) -> list[str]:
    with Session(stores.handoff) as session:
        return sorted(c.conversation_id for c in session.query(AnalyticsConversation))


def test_erasure_removes_the_customers_analytics_rows_and_broker_events(stores: personal_data.Stores) -> None:
    customers.resolve(
        stores.handoff, [customers.normalise("session", THEIRS)], customers.Linking(may_merge=True)
    )
    ingest(stores, (THEIRS, NOW.timestamp()), (OTHERS, NOW.timestamp()))

    exported = personal_data.export(stores, f"session:{THEIRS}")
    counts = personal_data.erase(stores, f"session:{THEIRS}")

    assert [c["conversation_id"] for c in exported["analytics"]["analytics_conversations"]] == [THEIRS]
    assert len(exported["analytics"]["analytics_turns"]) == 3
    assert exported["analytics"]["analytics_csat"][0]["comment"] == "quick, thanks"
    assert len(exported["broker_events"][THEIRS]) == 13 and set(exported["broker_events"]) == {THEIRS}
    assert counts["analytics_turns"] == 3 and counts["analytics_csat"] == 1 and counts["broker_events"] == 13
    assert analytics_conversations(stores) == [OTHERS]
    assert broker_senders(stores) == [OTHERS]
    with Session(stores.handoff) as session:
        assert {t.conversation_id for t in session.query(AnalyticsTurn)} == {OTHERS}


def test_retention_scrubs_scores_then_removes_old_conversations_and_broker_rows(
    stores: personal_data.Stores,
) -> None:
    recent, month_old, ancient = "web:" + "1" * 32, "web:" + "2" * 32, "web:" + "3" * 32
    ingest(
        stores,
        (recent, (NOW - timedelta(days=29)).timestamp()),
        (month_old, (NOW - timedelta(days=31)).timestamp()),
        (ancient, (NOW - timedelta(days=182)).timestamp()),
    )

    counts = personal_data.purge(stores, RETENTION, now=NOW)

    assert analytics_conversations(stores) == [recent, month_old]
    with Session(stores.handoff) as session:
        scores = {
            (t.conversation_id, t.turn): (t.frustration, t.distress) for t in session.query(AnalyticsTurn)
        }
    assert scores[(recent, 2)] == (0.4, 0.013) and scores[(month_old, 2)] == (None, None)
    assert broker_senders(stores) == [recent, month_old]
    assert stores.broker is not None
    with stores.broker.connect() as connection:
        rows = [json.loads(r[0]) for r in connection.execute(text("SELECT data FROM events"))]
    records = [(e["sender_id"], e["value"]) for e in rows if e.get("name") == "turn_record"]
    # The broker's copies lose their emotion slots after the emotion period, as the tracker's do.
    assert [value for sender, value in records if sender == month_old] == [None, None, None]
    assert [value["frustration"] for sender, value in records if sender == recent] == [0.2, 0.4, 0.6]
    assert counts["broker_events_deleted"] == 13 and counts["analytics_conversations_deleted"] == 1
    assert counts["analytics_turns_scrubbed"] == 3
