"""Retention with a fake clock: exactly what is past its period is scrubbed or removed."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.audit import audit_log
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import Handoff
from handoff.privacy import customers, personal_data
from handoff.shared.audit_entry import NewEntry

NOW = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)
RETENTION = personal_data.Retention(emotion_days=30, transcript_days=180, audit_days=730)
# The columns of Rasa 3.6's SQLTrackerStore table.
EVENTS = (
    "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL,"
    " type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255),"
    " action_name VARCHAR(255), data TEXT)"
)


@pytest.fixture
def stores(tmp_path: Path) -> personal_data.Stores:
    handoff_url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(handoff_url)
    tracker = create_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    with tracker.begin() as connection:
        connection.execute(text(EVENTS))
    return personal_data.Stores(create_engine_for(handoff_url), tracker)


def add_events(tracker: Engine, sender: str, age: timedelta) -> None:
    at = (NOW - age).timestamp()
    events = [
        {
            "event": "user",
            "timestamp": at,
            "text": "where is it!!",
            "parse_data": {"emotion": {"top": "anger"}},
        },
        {"event": "slot", "timestamp": at, "name": "frustration", "value": 0.7},
        {"event": "slot", "timestamp": at, "name": "order_id", "value": "10002"},
    ]
    with tracker.begin() as connection:
        for event in events:
            connection.execute(
                text("INSERT INTO events (sender_id, type_name, timestamp, data) VALUES (:s, :t, :ts, :d)"),
                {"s": sender, "t": event["event"], "ts": at, "d": json.dumps(event)},
            )


def add_handoff(engine: Engine, handoff_id: str, age: timedelta) -> None:
    payload = {
        "customer": {"pseudonym": "cust-1"},
        "transcript": [],
        "trajectory": [{"turn": 1}],
        "tone": "warm",
    }
    with Session(engine) as session, session.begin():
        session.add(
            Handoff(
                id=handoff_id,
                conversation_id=f"conv-{handoff_id}",
                idempotency_key=f"key-{handoff_id}-0000",
                status="resolved",
                priority=0,
                reason="frustration",
                payload=json.dumps(payload),
                created_at=NOW - age,
            )
        )


def tracker_rows(tracker: Engine) -> dict[str, list[dict]]:
    with tracker.connect() as connection:
        rows = connection.execute(text("SELECT sender_id, data FROM events ORDER BY id")).all()
    found: dict[str, list[dict]] = {}
    for sender, data in rows:
        found.setdefault(sender, []).append(json.loads(data))
    return found


def test_purge_scrubs_emotion_after_its_period_and_removes_what_is_past_the_transcript_period(
    stores: personal_data.Stores,
) -> None:
    assert stores.tracker is not None
    add_events(stores.tracker, "recent", timedelta(days=29))
    add_events(stores.tracker, "month-old", timedelta(days=31))
    add_events(stores.tracker, "ancient", timedelta(days=181))
    for name, days in (("h-recent", 29), ("h-month", 31), ("h-ancient", 181)):
        add_handoff(stores.handoff, name, timedelta(days=days))

    counts = personal_data.purge(stores, RETENTION, now=NOW)
    again = personal_data.purge(stores, RETENTION, now=NOW)

    rows = tracker_rows(stores.tracker)
    assert set(rows) == {"recent", "month-old"}
    assert (
        rows["recent"][0]["parse_data"]["emotion"] == {"top": "anger"} and rows["recent"][1]["value"] == 0.7
    )
    assert "emotion" not in rows["month-old"][0]["parse_data"] and rows["month-old"][1]["value"] is None
    assert rows["month-old"][2]["value"] == "10002"  # not emotion data: kept for the transcript period
    with Session(stores.handoff) as session:
        payloads = {h.id: json.loads(h.payload) for h in session.query(Handoff)}
    assert set(payloads) == {"h-recent", "h-month"}
    assert "trajectory" in payloads["h-recent"] and "trajectory" not in payloads["h-month"]
    assert counts["tracker_events_deleted"] == 3 and counts["tracker_events_scrubbed"] == 2
    assert (counts["handoffs_deleted"], counts["handoffs_scrubbed"]) == (1, 1)
    assert again["tracker_events_scrubbed"] == 0 and again["handoffs_scrubbed"] == 0


def test_retention_settings_are_checked() -> None:
    assert personal_data.retention_from({}) == personal_data.Retention()
    assert personal_data.retention_from({"ATTUNE_RETENTION_EMOTION_DAYS": "7"}).emotion_days == 7
    with pytest.raises(ValueError, match="ATTUNE_RETENTION_AUDIT_DAYS"):
        personal_data.retention_from({"ATTUNE_RETENTION_AUDIT_DAYS": "0"})


# --- finding a customer's conversations by their identities -----------------------------------------
PHONE = "+447700900123"
SESSION = "web:" + "b" * 32


def audit_entry(conversation: str) -> NewEntry:
    return NewEntry(
        key=f"privacy-test:{conversation}",
        conversation_id=conversation,
        customer=None,
        kind="handoff",
        actor="empathy engine",
        summary=f"about {conversation}",
        explanation={},
        inputs={},
        sources=(),
        opted_out=False,
        created_at=NOW,
    )


@pytest.fixture
def known_customer(stores: personal_data.Stores) -> str:
    verified = customers.Linking(may_merge=True)
    identities = [customers.normalise("phone", PHONE), customers.normalise("session", SESSION)]
    found = customers.resolve(stores.handoff, identities, verified)
    assert stores.tracker is not None
    # Theirs: SMS, WhatsApp, the web chat, and the number's conversation from before namespacing.
    # Not theirs: a REST client that chose the number (or the session) as its sender.
    for sender in (f"sms:{PHONE}", f"whatsapp:{PHONE}", SESSION, PHONE, f"rest:{PHONE}", f"rest:{SESSION}"):
        add_events(stores.tracker, sender, timedelta(days=1))
    for conversation in (f"sms:{PHONE}", PHONE, "b" * 32, f"rest:{PHONE}"):
        audit_log.append(stores.handoff, audit_entry(conversation))
    return str(found.customer)


def test_a_customers_conversations_are_found_by_their_identities(known_customer: str) -> None:
    identities = [customers.Identity("phone", PHONE), customers.Identity("session", SESSION)]

    assert personal_data.conversations_of(identities) == {f"sms:{PHONE}", f"whatsapp:{PHONE}", PHONE, SESSION}


def test_export_and_erase_reach_the_customers_conversations_and_nobody_elses(
    stores: personal_data.Stores, known_customer: str
) -> None:
    assert stores.tracker is not None
    exported = personal_data.export(stores, f"phone:{PHONE}", now=NOW)

    assert set(exported["conversations"]) == {f"sms:{PHONE}", f"whatsapp:{PHONE}", SESSION, PHONE}
    assert sorted(a["conversation_id"] for a in exported["audit"]) == sorted(
        [f"sms:{PHONE}", PHONE, "b" * 32]
    )

    personal_data.erase(stores, known_customer, now=NOW)

    assert set(tracker_rows(stores.tracker)) == {f"rest:{PHONE}", f"rest:{SESSION}"}
    untouched = [r.entry.summary for r in audit_log.for_conversation(stores.handoff, f"rest:{PHONE}")]
    assert untouched == [f"about rest:{PHONE}"]


def test_erasure_drops_what_the_action_server_has_not_yet_delivered_about_the_customer(
    stores: personal_data.Stores, known_customer: str, tmp_path: Path
) -> None:
    """Queued entries delivered after the erasure would bring the customer back (found end to end)."""
    from actions.audit_queue import AuditQueue
    from actions.outbox import Outbox

    outbox_url = f"sqlite:///{tmp_path / 'outbox.db'}"
    queue, handoffs = AuditQueue.open(outbox_url), Outbox.open(outbox_url)
    for conversation in (f"sms:{PHONE}", f"rest:{PHONE}"):
        queue.put_all(
            [{"key": f"entry:{conversation}", "conversation_id": conversation, "summary": "queued"}]
        )
        handoffs.put({"idempotency_key": f"handoff:{conversation}", "conversation_id": conversation})
    erased = personal_data.erase(
        personal_data.Stores(stores.handoff, stores.tracker, outbox=handoffs.engine), known_customer
    )

    with handoffs.engine.connect() as connection:
        left = {
            table: [
                json.loads(row[0])["conversation_id"]
                for row in connection.execute(text(f"SELECT {column} FROM {table}"))
            ]
            for table, _, column in personal_data.QUEUES
        }
    assert left == {"handoff_outbox": [f"rest:{PHONE}"], "audit_queue": [f"rest:{PHONE}"]}
    assert erased["queued_handoff_outbox"] == erased["queued_audit_queue"] == 1


def test_erasure_drops_the_customers_one_time_codes_limit_counters_and_mailbox(
    stores: personal_data.Stores, tmp_path: Path
) -> None:
    from actions.store.models import Base, OutboundMessage, SelfServiceEvent, VerificationCode

    email = "grace@example.com"
    found = customers.resolve(
        stores.handoff,
        [customers.normalise("email", email), customers.normalise("session", SESSION)],
        customers.Linking(may_merge=True),
    )
    store = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    Base.metadata.create_all(store)
    at = NOW.replace(tzinfo=None)
    with Session(store) as session, session.begin():
        for conversation in (SESSION, "rest:someone-else"):
            session.add(
                VerificationCode(
                    conversation_id=conversation,
                    purpose="cancel_subscription",
                    salt="s",
                    code_hash="h",
                    created_at=at,
                    expires_at=at,
                    attempts=0,
                    status="pending",
                )
            )
            session.add(SelfServiceEvent(key=f"conversation:{conversation}", kind="lookup", at=at))
        for address in (email, "other@example.com"):
            session.add(
                OutboundMessage(
                    channel="email", address=address, subject="code", body="123456", created_at=at
                )
            )

    personal_data.erase(
        personal_data.Stores(stores.handoff, stores.tracker, contacts=store), str(found.customer), now=NOW
    )

    with store.connect() as connection:
        left = {
            "codes": [
                row[0] for row in connection.execute(text("SELECT conversation_id FROM verification_codes"))
            ],
            "events": [row[0] for row in connection.execute(text("SELECT key FROM self_service_events"))],
            "mail": [row[0] for row in connection.execute(text("SELECT address FROM outbound_messages"))],
        }
    assert left == {
        "codes": ["rest:someone-else"],
        "events": ["conversation:rest:someone-else"],
        "mail": ["other@example.com"],
    }
