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
import asyncio
import json
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import structlog

from bench.rabbitmq import private_rabbitmq
from handoff.analytics.consumer import BATCH_SIZE, IDLE_SECONDS, Consumer, broker_engine, drain_once
from handoff.analytics.pika_consumer import DRAIN_IDLE_SECONDS, PikaConsumer, _consume
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head

ROOT = Path(__file__).resolve().parent.parent
FLUSH_TIMEOUT_SECONDS = 60.0


def _events(sender: str, start: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for turn in (1, 2, 3):
        record: dict[str, Any] = {
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


def measure_sql(args: argparse.Namespace) -> dict[str, Any]:
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
    return _report(args, total, lags, publish_ms, caught, rate)


def _follow_queue(consumer: PikaConsumer, lags: list[float], stop: threading.Event) -> None:
    """The consumer's loop (its own thread and event loop, as in the handoff service): each committed
    and acknowledged batch adds its events' lags, until ``stop`` and a second without messages.
    """

    async def follow() -> None:
        while not stop.is_set():
            async for result in _consume(consumer, idle=DRAIN_IDLE_SECONDS):
                committed = time.time()
                lags.extend(committed - at for at in result.event_times)

    asyncio.run(follow())


async def _catch_up(consumer: PikaConsumer) -> tuple[int, float]:
    """Events read from a full queue, and their rate from connecting to the last batch's commit."""
    caught, last = 0, 0.0
    began = time.perf_counter()
    async for result in _consume(consumer, idle=DRAIN_IDLE_SECONDS):
        caught += result.read
        last = time.perf_counter()
    return caught, caught / (last - began) if caught else 0.0


async def _flush(broker: Any) -> None:
    """Waits until Rasa's broker holds nothing and has no publish in flight."""
    deadline = time.monotonic() + FLUSH_TIMEOUT_SECONDS
    while (broker._unpublished_events or broker._background_tasks) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def measure_amqp(args: argparse.Namespace) -> dict[str, Any]:
    """The same stream through RabbitMQ: Rasa's Pika broker (``TimedPikaEventBroker``) publishes on
    this event loop, handoff/analytics/pika_consumer.py consumes on its own thread into SQLite.
    """
    import rasa.shared.core.events  # noqa: F401 - Rasa's pika.py uses it unimported
    from rasa.utils.endpoints import EndpointConfig

    from bot.components.event_broker import TimedPikaEventBroker

    with private_rabbitmq() as amqp_url, tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'handoff.db'}"
        upgrade_to_head(url)
        consumer = PikaConsumer(create_engine_for(url), amqp_url)
        port = int(amqp_url.rsplit(":", 1)[1].strip("/"))
        config = EndpointConfig(
            url="amqp://127.0.0.1/?reconnect_interval=1",
            type="bot.components.event_broker.TimedPikaEventBroker",
            username="guest",
            password="guest",
            port=port,
            queues=[consumer.queue],
            publish_timeout=5,
        )
        broker = await TimedPikaEventBroker.from_endpoint_config(config, asyncio.get_running_loop())
        assert isinstance(broker, TimedPikaEventBroker)
        lags: list[float] = []
        publish_ms: list[float] = []
        stop = threading.Event()
        follower = threading.Thread(target=_follow_queue, args=(consumer, lags, stop))
        follower.start()
        total = int(args.rate * args.seconds)
        started = time.perf_counter()
        for n in range(total):
            await asyncio.sleep(max(0.0, started + n / args.rate - time.perf_counter()))
            if n % 13 == 0:
                batch = _events(f"rest:bench-{n}", 0.0)
            event = dict(batch[n % 13], timestamp=time.time())
            t0 = time.perf_counter()
            broker.publish(event)
            publish_ms.append((time.perf_counter() - t0) * 1000)
        await _flush(broker)
        await asyncio.sleep(2 * DRAIN_IDLE_SECONDS)
        stop.set()
        await asyncio.to_thread(follower.join)

        # Catch-up: with no consumer, a backlog fills the queue; then it is drained as fast as it goes.
        for n in range(args.backlog):
            if n % 13 == 0:
                batch = _events(f"rest:backlog-{n}", time.time())
                await asyncio.sleep(0)  # lets Rasa's publishing tasks run, as between turns
            broker.publish(batch[n % 13])
        await _flush(broker)
        unsent = len(broker._unpublished_events) + len(broker._background_tasks)
        await broker.close()
        caught, rate = await asyncio.to_thread(asyncio.run, _catch_up(consumer))
    if unsent:
        print(f"warning: {unsent} events never left Rasa's broker", file=sys.stderr)
    return _report(args, total, lags, publish_ms, caught, rate)


def _report(
    args: argparse.Namespace,
    total: int,
    lags: list[float],
    publish_ms: list[float],
    caught: int,
    rate: float,
) -> dict[str, Any]:
    return {
        "broker": args.broker,
        "rate_events_per_second": args.rate,
        "seconds": args.seconds,
        "events_streamed": total,
        "events_ingested": len(lags),
        "lag_p50_s": round(_percentile(lags, 0.50), 3),
        "lag_p95_s": round(_percentile(lags, 0.95), 3),
        "lag_max_s": round(max(lags), 3) if lags else None,
        "backlog_events": args.backlog,
        "backlog_ingested": caught,
        "catch_up_events_per_second": round(rate),
        "publish_p50_ms": round(_percentile(publish_ms, 0.50), 3),
        "publish_p95_ms": round(_percentile(publish_ms, 0.95), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--broker", choices=("sql", "amqp"), default="sql")
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--backlog", type=int, default=20_000, help="events for the catch-up rate")
    args = parser.parse_args()
    # Rasa's Pika broker logs each event at debug level through structlog: warnings only, on stderr.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    report = asyncio.run(measure_amqp(args)) if args.broker == "amqp" else measure_sql(args)
    print(json.dumps(report, indent=2))
    name = "analytics_ingest.json" if args.broker == "sql" else "analytics_ingest-amqp.json"
    out = ROOT / "bench" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
