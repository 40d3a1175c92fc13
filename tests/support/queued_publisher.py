"""Rasa's tracker store publishing through ``QueuedSQLEventBroker``, as the Rasa server does.

    python -m tests.support.queued_publisher TRACKER_DB EVENTS_DB [--conversations N] [--hold]

Saves the conversations of tests/support/broker_events.py a turn at a time through
``GuardedSQLTrackerStore`` (which streams each save's new events to the broker, then stores them),
with the timestamps fixed there, so two runs publish the same JSON.  Phase 1: every conversation's
first two turns; then it waits until the broker has written them.  Phase 2: the rest of those
conversations, and as many again whole.

With ``--hold`` it prints ``DRAINED`` after phase 1 and waits for a line on stdin (the test locks the
broker's database meanwhile), then prints ``QUEUED <n>`` after phase 2 and sleeps until killed.
Without it, it closes the broker (which writes the queue) and prints ``CLOSED``.
"""

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker

from bot.components.event_broker import QueuedSQLEventBroker
from bot.components.tracker_store import GuardedSQLTrackerStore
from tests.support.broker_events import T0, conversation

ROOT = Path(__file__).resolve().parents[2]
FIRST_PHASE_EVENTS = 6  # two turns of user, turn_record, bot
DRAIN_TIMEOUT_SECONDS = 30.0


def senders(count: int) -> list[str]:
    return [f"rest:backfill-{i}" for i in range(count)]


def events_of(index: int, sender: str) -> list[dict[str, Any]]:
    """broker_events' conversation at microsecond timestamps, every other one with non-ASCII words."""
    events = conversation(sender, start=T0 + 100 * index + 0.000123 * index)
    for event in events:
        if index % 2 and event["event"] == "user":
            event["text"] = event["parse_data"]["text"] = "où est ma commande ? ✓ «vite»"
    return events


async def save(
    store: GuardedSQLTrackerStore, domain: Domain, sender: str, events: list[dict[str, Any]]
) -> None:
    """One save per three events, as Rasa saves once per message."""
    for start in range(0, len(events), 3):
        tracker = await store.retrieve(sender) or DialogueStateTracker(sender, domain.slots)
        for event in events[start : start + 3]:
            tracker.update(Event.from_parameters({k: v for k, v in event.items() if k != "sender_id"}))
        await store.save(tracker)


async def run(tracker_db: Path, events_db: Path, count: int, hold: bool) -> None:
    domain = Domain.load(str(ROOT / "domain.yml"))
    broker = QueuedSQLEventBroker(db=str(events_db))
    store = GuardedSQLTrackerStore(domain=domain, db=str(tracker_db), event_broker=broker)
    whole = {sender: events_of(i, sender) for i, sender in enumerate(senders(2 * count))}
    for sender in senders(count):
        await save(store, domain, sender, whole[sender][:FIRST_PHASE_EVENTS])
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while broker.queued and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    if hold:
        print("DRAINED", flush=True)
        sys.stdin.readline()
    for sender in senders(count):
        await save(store, domain, sender, whole[sender][FIRST_PHASE_EVENTS:])
    for sender in senders(2 * count)[count:]:
        await save(store, domain, sender, whole[sender])
    if hold:
        print(f"QUEUED {broker.queued}", flush=True)
        while True:
            await asyncio.sleep(60)
    await broker.close()
    print("CLOSED", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("tracker_db", type=Path)
    parser.add_argument("events_db", type=Path)
    parser.add_argument("--conversations", type=int, default=5)
    parser.add_argument("--hold", action="store_true")
    args = parser.parse_args()
    asyncio.run(run(args.tracker_db, args.events_db, args.conversations, args.hold))


if __name__ == "__main__":
    main()
