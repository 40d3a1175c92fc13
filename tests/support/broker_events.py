"""Rasa's SQL event broker table, filled the way Rasa fills it.

``rasa/core/brokers/sql.py``: ``SQLBrokerEvent`` is ``events(id INTEGER PRIMARY KEY, sender_id
VARCHAR(255), data TEXT)`` and ``publish`` stores ``json.dumps(event)``; the event is
``{"sender_id": ..., **event.as_dict()}`` (rasa/core/tracker_store.py ``_stream_new_events``).
"""

import json
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

BROKER_TABLE = "CREATE TABLE events (id INTEGER NOT NULL PRIMARY KEY, sender_id VARCHAR(255), data TEXT)"
T0 = 1_796_000_000.0  # 2026-11-30, within the years events.py believes


def broker(path: Path) -> Engine:
    engine = create_engine(f"sqlite:///{path}", future=True)
    with engine.begin() as connection:
        connection.execute(text(BROKER_TABLE))
    return engine


def publish(engine: Engine, *events: dict[str, Any]) -> None:
    with engine.begin() as connection:
        for event in events:
            connection.execute(
                text("INSERT INTO events (sender_id, data) VALUES (:s, :d)"),
                {"s": event.get("sender_id"), "d": json.dumps(event)},
            )


def publish_raw(engine: Engine, sender: str, data: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO events (sender_id, data) VALUES (:s, :d)"), {"s": sender, "d": data}
        )


def user(sender: str, at: float, words: str = "where is my order?") -> dict[str, Any]:
    return {
        "sender_id": sender,
        "event": "user",
        "timestamp": at,
        "metadata": {"model_id": "m"},
        "text": words,
        "parse_data": {"intent": {"name": "order_status", "confidence": 0.9}, "text": words},
        "input_channel": "rest",
        "message_id": f"m-{at}",
    }


def slot(sender: str, at: float, name: str, value: Any) -> dict[str, Any]:
    return {
        "sender_id": sender,
        "event": "slot",
        "timestamp": at,
        "metadata": {"model_id": "m"},
        "name": name,
        "value": value,
    }


def record(turn: int, consent: bool = True, decision: str = "none", **extra: Any) -> dict[str, Any]:
    """A ``turn_record`` value as actions/turn_record.py builds it."""
    value: dict[str, Any] = {
        "v": 1,
        "turn": turn,
        "intent": "order_status",
        "confidence": 0.951,
        "outcome": "order_not_found" if turn > 1 else None,
        "tone": "apologetic" if turn > 1 else "neutral",
        "decision": decision,
        "emotion_processing": "on" if consent else "off",
    }
    if consent:
        value |= {"frustration": round(0.2 * turn, 3), "distress": 0.013, "signals": ["negative_emotion"]}
    return value | extra


def explanation(turn: int, decision: str, reasons: list[str]) -> dict[str, Any]:
    return {
        "turn": turn,
        "opted_out": False,
        "decision": {"decision": decision, "reasons": reasons, "turn": turn},
    }


def conversation(sender: str, start: float = T0, consent: bool = True) -> list[dict[str, Any]]:
    """Three turns; the third offers a person for frustration, a handoff and a call-back follow, then CSAT."""
    events: list[dict[str, Any]] = []
    for turn in (1, 2, 3):
        at = start + 10 * turn
        decision = "offer_human" if turn == 3 else "none"
        events += [
            user(sender, at),
            slot(sender, at + 0.1, "turn_record", record(turn, consent, decision)),
            {"sender_id": sender, "event": "bot", "timestamp": at + 0.2, "text": "Let me look."},
        ]
    events += [
        slot(
            sender, start + 30.15, "empathy_explanation", explanation(3, "offer_human", ["frustration 0.62"])
        ),
        slot(sender, start + 40, "handoff_status", "delivered"),
        slot(sender, start + 50, "callback_status", "booked"),
        slot(sender, start + 60, "csat_answer", {"score": 4, "comment": "quick, thanks"}),
    ]
    return events
