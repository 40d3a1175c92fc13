"""Migration 0013 on a database at the revision before it: stored conversation ids get their channel."""

import json
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

from handoff.core.migrate import alembic_config, upgrade_to_head

OLD_WEB = "0123456789abcdef0123456789abcdef"
T = "2026-11-30 10:00:00"


def handoff(connection: Connection, handoff_id: str, conversation: str, channel: str) -> None:
    payload = {"conversation_id": conversation, "channel": channel, "summary": "s"}
    connection.execute(
        text(
            "INSERT INTO handoffs (id, conversation_id, idempotency_key, status, priority, reason, payload,"
            " created_at, updated_at, body_hash) VALUES (:i, :c, :k, 'queued', 0, 'r', :p, :t, :t, 'h')"
        ),
        {"i": handoff_id, "c": conversation, "k": f"key-{handoff_id}", "p": json.dumps(payload), "t": T},
    )


def test_conversation_ids_and_session_identities_are_namespaced(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    command.upgrade(alembic_config(url), "0012")
    engine = create_engine(url)
    with engine.begin() as connection:
        handoff(connection, "sms", "+447700900123", "twilio")
        handoff(connection, "whatsapp", "whatsapp:+447700900124", "twilio")
        handoff(connection, "web", OLD_WEB, "socketio")
        handoff(connection, "rest", "+447700900123", "rest")
        handoff(connection, "unknown", "someone", "cmdline")
        connection.execute(text("INSERT INTO customers VALUES ('cust-1', 'on', :t)"), {"t": T})
        for kind, value in (
            ("session", OLD_WEB),
            ("session", "abc"),
            ("session", "rest:abc"),
            ("phone", "+447700900123"),
            ("id", "C-1"),
        ):
            connection.execute(
                text("INSERT INTO customer_identities VALUES (:k, :v, 'cust-1', :t)"),
                {"k": kind, "v": value, "t": T},
            )

    upgrade_to_head(url)

    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, conversation_id, payload, body_hash FROM handoffs")).all()
        identities = connection.execute(text("SELECT kind, value FROM customer_identities")).all()
    assert {r.id: r.conversation_id for r in rows} == {
        "sms": "sms:+447700900123",
        "whatsapp": "whatsapp:+447700900124",
        "web": f"web:{OLD_WEB}",
        "rest": "rest:+447700900123",
        "unknown": "rest:someone",
    }
    assert all(json.loads(r.payload)["conversation_id"] == r.conversation_id for r in rows)
    assert {r.body_hash for r in rows} == {"h"}  # the hash of the body as it was sent
    assert sorted(identities) == [
        ("id", "C-1"),
        ("phone", "+447700900123"),
        ("session", "rest:abc"),
        ("session", "rest:rest:abc"),
        ("session", f"web:{OLD_WEB}"),
    ]


def test_0015_adds_who_resolved_a_handoff_and_its_human_part_and_goes_back(tmp_path: Path) -> None:
    """Up from the previous head (0014) with a resolved handoff in it, then down again."""
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    command.upgrade(alembic_config(url), "0014")
    engine = create_engine(url)
    with engine.begin() as connection:
        handoff(connection, "old", "web:" + OLD_WEB, "socketio")
        connection.execute(text("UPDATE handoffs SET status = 'resolved', resolved_at = :t"), {"t": T})

    upgrade_to_head(url)

    with engine.connect() as connection:
        row = connection.execute(text("SELECT status, resolved_by, human_transcript FROM handoffs")).one()
    assert tuple(row) == ("resolved", None, None)  # resolved before: nobody recorded, nothing kept
    command.downgrade(alembic_config(url), "0014")
    with engine.connect() as connection:
        columns = {c[1] for c in connection.execute(text("PRAGMA table_info(handoffs)"))}
    assert "resolved_by" not in columns and "human_transcript" not in columns and "resolved_at" in columns


def test_0016_adds_the_workspace_with_existing_agents_online_and_goes_back(tmp_path: Path) -> None:
    """Up from 0015 with an agent and a resolved handoff: the agent is online with the default
    capacity, the handoff has no disposition; then down again.
    """
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    command.upgrade(alembic_config(url), "0015")
    engine = create_engine(url)
    with engine.begin() as connection:
        handoff(connection, "old", "web:" + OLD_WEB, "socketio")
        connection.execute(text("UPDATE handoffs SET status = 'resolved', resolved_at = :t"), {"t": T})
        connection.execute(
            text(
                "INSERT INTO agents (username, display_name, password_hash, role, created_at)"
                " VALUES ('alex', 'Alex', 'x', 'agent', :t)"
            ),
            {"t": T},
        )

    command.upgrade(alembic_config(url), "0016")

    with engine.connect() as connection:
        agent = connection.execute(text("SELECT presence, capacity FROM agents")).one()
        resolved = connection.execute(text("SELECT disposition, disposition_note FROM handoffs")).one()
        tables = {r[0] for r in connection.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    assert tuple(agent) == ("online", 3) and tuple(resolved) == (None, None)
    assert {"canned_responses", "handoff_notes", "handoff_transfers"} <= tables
    command.downgrade(alembic_config(url), "0015")
    with engine.connect() as connection:
        columns = {c[1] for c in connection.execute(text("PRAGMA table_info(agents)"))}
        tables = {r[0] for r in connection.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    assert "presence" not in columns and "capacity" not in columns and "handoff_notes" not in tables
