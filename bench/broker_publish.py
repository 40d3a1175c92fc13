"""What publishing to the event broker costs Rasa's event loop: Rasa's SQLEventBroker vs ours.

Rasa calls ``publish`` once per new tracker event, synchronously on its event loop, ~12 times a
customer message (rasa/core/tracker_store.py ``_stream_new_events``).  This publishes ``--messages``
messages of 12 events (a user event with parse data, action, slot and bot events, ~3.5 KB in all)
at ``--rate`` messages per second to each broker on a fresh SQLite file, and reports the time of
one ``publish`` (per event) and of a message's 12 publishes (per message), p50/p95/max, in ms.
Our broker's writer thread runs meanwhile, so its share of the GIL shows in these figures.  Then
it checks that every event reached the table, in order.

    .venv/bin/python -m bench.broker_publish --messages 300 --rate 20
"""

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.brokers.sql import SQLEventBroker
from sqlalchemy import create_engine, text

from bench.stats import percentile
from bot.components.event_broker import QueuedSQLEventBroker

EVENTS_PER_MESSAGE = 12


def message_events(sender: str, n: int) -> list[dict[str, Any]]:
    """One customer message's new tracker events, shaped like the slimmed ones Rasa publishes."""
    at = 1_796_000_000.0 + n
    ranking = [{"name": f"intent_{i}", "confidence": 0.1} for i in range(3)]
    parse = {
        "intent": {"name": "order_status", "confidence": 0.93},
        "entities": [],
        "intent_ranking": ranking,
        "emotion": {"label": "neutral", "probabilities": {"neutral": 0.8, "anger": 0.1}, "cues": {}},
        "language": {"code": "en", "supported": True},
    }
    record = {"v": 1, "turn": n, "intent": "order_status", "confidence": 0.93, "tone": "neutral"}
    events: list[dict[str, Any]] = [
        {"event": "user", "text": f"where is my order {n}?", "parse_data": parse, "input_channel": "rest"},
        {"event": "user_featurization", "use_text_for_featurization": False},
        {"event": "action", "name": "action_track_empathy", "policy": "RulePolicy", "confidence": 1.0},
        {"event": "slot", "name": "turn_record", "value": record},
        {"event": "slot", "name": "frustration", "value": 0.12},
        {"event": "slot", "name": "tone", "value": "neutral"},
        {"event": "action", "name": "action_listen", "policy": "RulePolicy", "confidence": 1.0},
        {"event": "action", "name": "action_order_status", "policy": "TEDPolicy", "confidence": 0.97},
        {"event": "slot", "name": "order_id", "value": "A-1001"},
        {"event": "bot", "text": "Your order A-1001 is on its way." * 3, "data": {}, "metadata": {}},
        {"event": "slot", "name": "self_service_outcome", "value": "order_found"},
        {"event": "action", "name": "action_listen", "policy": "RulePolicy", "confidence": 1.0},
    ]
    return [{"sender_id": sender, **event, "timestamp": at + i / 100} for i, event in enumerate(events)]


async def run(broker: EventBroker, messages: int, rate: float) -> tuple[list[float], list[float]]:
    per_event: list[float] = []
    per_message: list[float] = []
    for n in range(messages):
        started = time.perf_counter()
        for event in message_events(f"rest:{n % 20}", n):
            before = time.perf_counter()
            broker.publish(event)
            per_event.append(time.perf_counter() - before)
        per_message.append(time.perf_counter() - started)
        await asyncio.sleep(1 / rate)  # Rasa's loop does other work between messages
    await broker.close()
    return per_event, per_message


def stored_in_order(path: Path, messages: int) -> bool:
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT data FROM events ORDER BY id")).scalars().all()
    engine.dispose()
    times = [json.loads(row)["timestamp"] for row in rows]
    return len(times) == messages * EVENTS_PER_MESSAGE and times == sorted(times)


def line(name: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"{name:<46} p50 {percentile(ms, 0.5):6.3f} ms  p95 {percentile(ms, 0.95):6.3f} ms"
        f"  max {max(ms):6.3f} ms  (n={len(ms)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rate", type=float, default=20.0, help="messages per second")
    args = parser.parse_args()
    for name, build in (
        ("SQLEventBroker (Rasa)", SQLEventBroker),
        ("QueuedSQLEventBroker", QueuedSQLEventBroker),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "events.db"
            broker = build(db=str(path))
            per_event, per_message = asyncio.run(run(broker, args.messages, args.rate))
            print(line(f"{name}: per event", per_event))
            print(line(f"{name}: per message (12 events)", per_message))
            print(f"{name}: all {args.messages * EVENTS_PER_MESSAGE} events stored in order:",
                  stored_in_order(path, args.messages))  # fmt: skip


if __name__ == "__main__":
    main()
