"""Analytics ingestion: lag and rate of the consumer (handoff/analytics/) behind Rasa's SQL event broker.

Rasa's own ``SQLEventBroker.publish`` writes a synthetic stream (13-event conversations: user,
turn_record and bot events, an explanation, handoff, call-back and CSAT slots) at ``--rate`` events
per second for ``--seconds``, while the consumer follows the table as it runs in the service (batches
of 500, 0.5 s idle wait).  Reported: the lag of each event (its commit into the analytics tables
minus its Rasa timestamp) at p50/p95/max, the consumer's catch-up rate over a backlog, and what
``publish`` costs the Rasa server per event (it runs on Rasa's event loop, on the customer's path).

    .venv/bin/python -m bench.analytics_ingest --rate 50 --seconds 60
"""

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from handoff.analytics.consumer import BATCH_SIZE, IDLE_SECONDS, Consumer, broker_engine, drain_once
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head


def _events(sender: str, start: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for turn in (1, 2, 3):
        record = {
            "v": 1, "turn": turn, "intent": "order_status", "confidence": 0.9, "outcome": None,
            "tone": "neutral", "decision": "offer_human" if turn == 3 else "none",
            "emotion_processing": "on", "frustration": 0.2 * turn, "distress": 0.01, "signals": [],
        }  # fmt: skip
        out += [
            {
                "event": "user",
                "text": "where is my order?",
                "parse_data": {"intent": {"name": "order_status"}},
            },
            {"event": "slot", "name": "turn_record", "value": record},
            {"event": "bot", "text": "Let me look."},
        ]
    decision = {"decision": "offer_human", "reasons": ["frustration"], "turn": 3}
    out += [
        {"event": "slot", "name": "empathy_explanation", "value": {"turn": 3, "decision": decision}},
        {"event": "slot", "name": "handoff_status", "value": "delivered"},
        {"event": "slot", "name": "callback_status", "value": "booked"},
        {"event": "slot", "name": "csat_answer", "value": {"score": 4, "comment": None}},
    ]
    return [{"sender_id": sender, **event, "timestamp": start} for event in out]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--backlog", type=int, default=20_000, help="events for the catch-up rate")
    args = parser.parse_args()
    from rasa.core.brokers.sql import SQLEventBroker  # Rasa's own, as endpoints.yml configures it

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'handoff.db'}"
        upgrade_to_head(url)
        rasa_broker = SQLEventBroker(db=str(Path(folder) / "events.db"))
        broker = broker_engine(f"sqlite:///{Path(folder) / 'events.db'}")
        consumer = Consumer(create_engine_for(url), broker)
        lags: list[float] = []
        publish_ms: list[float] = []
        stop = threading.Event()

        def follow() -> None:
            while not stop.is_set():
                result = drain_once(consumer)
                committed = time.time()
                lags.extend(committed - at for at in result.event_times)
                if result.read < BATCH_SIZE:
                    time.sleep(IDLE_SECONDS)

        follower = threading.Thread(target=follow)
        follower.start()
        total = int(args.rate * args.seconds)
        started = time.perf_counter()
        for n in range(total):
            due = started + n / args.rate
            time.sleep(max(0.0, due - time.perf_counter()))
            if n % 13 == 0:
                batch = _events(f"rest:bench-{n}", 0.0)
            event = dict(batch[n % 13], timestamp=time.time())
            t0 = time.perf_counter()
            rasa_broker.publish(event)
            publish_ms.append((time.perf_counter() - t0) * 1000)
        time.sleep(2 * IDLE_SECONDS + 1)
        stop.set()
        follower.join()
        streamed = len(lags)

        # Catch-up: a backlog published at once, then drained as fast as the consumer goes.
        for n in range(args.backlog):
            if n % 13 == 0:
                batch = _events(f"rest:backlog-{n}", time.time())
            rasa_broker.publish(batch[n % 13])
        t0 = time.perf_counter()
        caught = 0
        while (read := drain_once(consumer).read) > 0:
            caught += read
        rate = caught / (time.perf_counter() - t0)

    report = {
        "rate_events_per_second": args.rate,
        "events_streamed": total,
        "events_ingested": streamed,
        "lag_p50_s": round(_percentile(lags, 0.50), 3),
        "lag_p95_s": round(_percentile(lags, 0.95), 3),
        "lag_max_s": round(max(lags), 3) if lags else None,
        "catch_up_events_per_second": round(rate),
        "publish_p50_ms": round(_percentile(publish_ms, 0.50), 3),
        "publish_p95_ms": round(_percentile(publish_ms, 0.95), 3),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
