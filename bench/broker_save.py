"""What the event broker adds to Rasa's tracker-store save, the customer's path, without HTTP noise.

    python -m bench.broker_save [--conversations 30] [--turns 8] [--rounds 2]

Saves conversations turn by turn (a user message, a ``turn_record`` slot, a bot reply)
through ``GuardedSQLTrackerStore`` with no event broker and with ``QueuedSQLEventBroker``, rounds
interleaved, on fresh SQLite files, and prints p50/p95 of one ``save`` each way.  With a broker, a
save also streams the new events: Rasa's ``TrackerStore.stream_events`` retrieves the stored tracker
again to find them (when the session is shorter than the window), then ``publish`` queues them.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker

from bench.stacks import ROOT
from bot.components.event_broker import QueuedSQLEventBroker
from bot.components.tracker_store import GuardedSQLTrackerStore

T0 = 1_796_000_000.0


def turn_events(turn: int, at: float) -> list[dict[str, Any]]:
    """One customer turn as Rasa stores it, small: the user's message, the turn record, the reply."""
    words = "where is my order?"
    record = {"v": 1, "turn": turn, "intent": "order_status", "confidence": 0.95, "tone": "neutral"}
    return [
        {
            "event": "user",
            "timestamp": at,
            "text": words,
            "parse_data": {"intent": {"name": "order_status", "confidence": 0.9}, "text": words},
            "input_channel": "rest",
            "message_id": f"m-{at}",
        },
        {"event": "slot", "timestamp": at + 0.1, "name": "turn_record", "value": record},
        {"event": "bot", "timestamp": at + 0.2, "text": "Let me look."},
    ]


async def save_times(with_broker: bool, conversations: int, turns: int) -> list[float]:
    folder = Path(tempfile.mkdtemp(prefix="bench-broker-save-"))
    domain = Domain.load(str(ROOT / "domain.yml"))
    broker = QueuedSQLEventBroker(db=str(folder / "events.db")) if with_broker else None
    store = GuardedSQLTrackerStore(domain=domain, db=str(folder / "tracker.db"), event_broker=broker)
    times = []
    for index in range(conversations):
        sender = f"rest:bench-{index}"
        for turn in range(turns):
            tracker = await store.retrieve(sender) or DialogueStateTracker(sender, domain.slots)
            for event in turn_events(turn + 1, T0 + 1000 * index + 30 * turn):
                tracker.update(Event.from_parameters(event))
            started = time.perf_counter()
            await store.save(tracker)
            times.append((time.perf_counter() - started) * 1000)
    if broker is not None:
        await broker.close()
    return sorted(times)


async def main_async(args: argparse.Namespace) -> None:
    for round_ in range(args.rounds):
        for with_broker in (False, True):
            times = await save_times(with_broker, args.conversations, args.turns)
            p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
            print(
                f"round {round_ + 1}, broker {'on ' if with_broker else 'off'}: {len(times)} saves, "
                f"p50 {statistics.median(times):.2f} ms, p95 {p95:.2f} ms",
                flush=True,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.broker_save", description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=30, choices=range(1, 1001), metavar="1-1000")
    parser.add_argument("--turns", type=int, default=8, choices=range(1, 101), metavar="1-100")
    parser.add_argument("--rounds", type=int, default=2, choices=range(1, 21), metavar="1-20")
    asyncio.run(main_async(parser.parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
