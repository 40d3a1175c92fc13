"""Publishes generated conversations through the Pika broker Rasa runs, as Rasa's tracker store does.

``python -m tests.support.pika_publisher --port P --queue Q --conversations N --rate R``: the broker
(bot/components/event_broker.py ``TimedPikaEventBroker``: Rasa's ``PikaEventBroker`` with a timeout
on each publish) is built from an endpoints-style config exactly as Rasa builds it, each event
goes through ``broker.publish`` at ``R`` events a second, and at the end the process waits until
Rasa's broker has nothing left in memory (its ``_unpublished_events`` deque and its publishing
tasks) before it closes the connection, for at most FLUSH_TIMEOUT_SECONDS.  The last line on stdout
is a JSON summary: how many events were published, the most that sat in Rasa's memory at once (the
events published while RabbitMQ was away), the publishes that timed out, the held events dropped
(over ``max_unpublished``), and the events whose publishing never finished.
"""

import argparse
import asyncio
import json
import logging
import sys
import time
from typing import Any

import rasa.shared.core.events  # noqa: F401 - pika.py uses it unimported; the Rasa server has loaded it
import structlog
from rasa.utils.endpoints import EndpointConfig

from bot.components.event_broker import TimedPikaEventBroker
from tests.support.broker_events import T0, conversation

FLUSH_TIMEOUT_SECONDS = 30.0
PUBLISH_TIMEOUT_SECONDS = 2.0


def events(conversations: int) -> list[dict[str, Any]]:
    """The conversations' events interleaved (turn by turn across customers), as live traffic is."""
    each = [conversation(f"rest:p{i}", start=T0 + i) for i in range(conversations)]
    return [chat[k] for k in range(len(each[0])) for chat in each]


async def publish(port: int, queue: str, conversations: int, rate: float) -> dict[str, Any]:
    config = EndpointConfig(
        # An amqp:// host makes Rasa build a URL, and aio-pika reads reconnect_interval from its query.
        url="amqp://127.0.0.1/?reconnect_interval=1",
        type="bot.components.event_broker.TimedPikaEventBroker",
        username="guest",
        password="guest",
        port=port,
        queues=[queue],
        publish_timeout=PUBLISH_TIMEOUT_SECONDS,
    )
    broker = await TimedPikaEventBroker.from_endpoint_config(config, asyncio.get_running_loop())
    assert isinstance(broker, TimedPikaEventBroker)
    held = in_flight = 0
    began = time.monotonic()
    generated = events(conversations)
    # Which event each of Rasa's publishing tasks carries, to name the ones that never finish.
    carried: dict[asyncio.Task[Any], dict[str, Any]] = {}
    for index, event in enumerate(generated):
        before = set(broker._background_tasks)
        broker.publish(event)
        carried.update((task, event) for task in broker._background_tasks - before)
        held = max(held, len(broker._unpublished_events))
        in_flight = max(in_flight, len(broker._background_tasks))
        await asyncio.sleep(max(0.0, began + (index + 1) / rate - time.monotonic()))
    deadline = time.monotonic() + FLUSH_TIMEOUT_SECONDS
    while (broker._unpublished_events or broker._background_tasks) and time.monotonic() < deadline:
        held = max(held, len(broker._unpublished_events))
        await asyncio.sleep(0.05)
    for task in list(broker._background_tasks)[:3]:
        task.print_stack(file=sys.stderr)
    summary = {
        "published": len(generated),
        "held_max": held,
        "in_flight_max": in_flight,
        # Still in Rasa's memory at the end: never sent (a publish that never returned, or the deque).
        "stuck": len(broker._background_tasks),
        "unsent": len(broker._unpublished_events),
        "stuck_events": [carried[task] for task in broker._background_tasks if task in carried],
        "timed_out": broker.timed_out,
        "dropped": broker.dropped,
    }
    await broker.close()
    return summary


def main() -> None:
    # Rasa logs each event at debug level through structlog (to stdout by default): warnings and
    # errors only, on stderr, so that stdout carries the summary.
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--conversations", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    args = parser.parse_args()
    summary = asyncio.run(publish(args.port, args.queue, args.conversations, args.rate))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
