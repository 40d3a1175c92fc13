"""RabbitMQ through the Pika broker Rasa runs, with the broker and the consumer killed -9.

A publisher process drives ``TimedPikaEventBroker`` (Rasa 3.6's ``PikaEventBroker`` with a timeout
on each publish, bot/components/event_broker.py; tests/support/pika_publisher.py) and
``python -m handoff.analytics`` consumes; RabbitMQ is a private node (tests/support/datastores.py).
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aio_pika
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import (
    AnalyticsCallback,
    AnalyticsConversation,
    AnalyticsCsat,
    AnalyticsEscalation,
    AnalyticsTurn,
)
from tests.support.broker_events import T0, conversation
from tests.support.datastores import RabbitMQ, rabbitmq, require_rabbitmq
from tests.support.ports import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
QUEUE = "rasa_core_events"
CONVERSATIONS = 150  # 13 events each
RATE = 100.0  # events a second: about 20 s of traffic, across the broker's restart
WAIT_SECONDS = 90.0


@pytest.fixture(scope="module")
def node() -> Iterator[RabbitMQ]:
    require_rabbitmq()
    with rabbitmq(free_port()) as found:
        yield found


def test_a_message_that_is_not_a_rasa_event_is_acknowledged_and_skipped(
    node: RabbitMQ, tmp_path: Path
) -> None:
    engine, env = _database(tmp_path, node, queue="hostile")
    bodies = [
        b"\xff\xfe not json",
        b"{}",
        *(json.dumps(e).encode() for e in conversation("rest:h1", start=T0)),
    ]
    asyncio.run(_publish_raw(node.url, "hostile", bodies))

    done = subprocess.run(
        [sys.executable, "-m", "handoff.analytics", "--once"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert f"ingested {len(bodies)} broker events" in done.stdout
    assert _counts(engine)["turns"] == 3
    assert asyncio.run(_queue_depth(node.url, "hostile")) == 0, "the skipped messages were acknowledged too"


def test_broker_and_consumer_killed_mid_stream_lose_and_duplicate_nothing(
    node: RabbitMQ, tmp_path: Path
) -> None:
    engine, env = _database(tmp_path, node, queue=QUEUE)
    logs = tmp_path / "logs"
    logs.mkdir()
    consumer = _start_consumer(env, logs / "consumer-1.log")
    publisher: subprocess.Popen[str] | None = None
    try:
        # The consumer declares the queue.  RabbitMQ writes durable definitions to disk lazily: a queue
        # declared under ~0.5 s before a kill -9 is gone after the restart (measured), with its messages.
        _until(
            lambda: asyncio.run(_queue_depth(node.url, QUEUE)) is not None, "the consumer declared the queue"
        )
        time.sleep(1.5)
        publisher = subprocess.Popen(
            [sys.executable, "-m", "tests.support.pika_publisher", "--port", str(node.port), "--queue", QUEUE,
             "--conversations", str(CONVERSATIONS), "--rate", str(RATE)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=(logs / "publisher.log").open("w"), text=True,
        )  # fmt: skip
        _until(lambda: _counts(engine)["turns"] > 0, "the first events ingested")

        node.kill9()
        time.sleep(1.0)  # Rasa publishes into its memory meanwhile
        restart_seconds = node.restart()

        at_restart = _counts(engine)["turns"]
        _until(lambda: _counts(engine)["turns"] > at_restart, "ingestion resumed after the broker's restart")
        consumer.send_signal(signal.SIGKILL)
        consumer.wait(timeout=10)
        at_consumer_kill = _counts(engine)["turns"]
        consumer = _start_consumer(env, logs / "consumer-2.log")

        out, _ = publisher.communicate(timeout=WAIT_SECONDS)
        assert publisher.returncode == 0, (logs / "publisher.log").read_text()[-2000:]
        summary = json.loads(out.strip().splitlines()[-1])
        expected = _expected(CONVERSATIONS)
        _until(lambda: _counts(engine) == expected, "every event ingested", quiet=True)
    finally:
        for process in (consumer, publisher):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    numbers = {key: value for key, value in summary.items() if key != "stuck_events"}
    print(f"\nThe Pika broker: {numbers}; RabbitMQ answered {restart_seconds:.1f} s after its restart")
    assert summary["held_max"] > 0, "events were published while RabbitMQ was down"
    assert summary["unsent"] == 0, "the broker sent what it held once RabbitMQ was back"
    assert summary["stuck"] == 0, f"publishes never finished: {summary['stuck_events']}"
    assert summary["dropped"] == 0, "the broker held fewer than max_unpublished events"
    assert at_consumer_kill < expected["turns"], "the consumer was killed before the end of the stream"
    # Exactly once: every published event ingested, none twice (a resent duplicate adds nothing).
    assert _counts(engine) == expected


def _database(tmp_path: Path, node: RabbitMQ, queue: str) -> tuple[Engine, dict[str, str]]:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    env = {
        **os.environ,
        "ATTUNE_HANDOFF_DATABASE_URL": url,
        "ATTUNE_RABBITMQ_URL": node.url,
        "ATTUNE_RABBITMQ_QUEUE": queue,
        "ATTUNE_SESSION_KEY": "k" * 40,
        "ATTUNE_LOG_FORMAT": "text",
    }
    return create_engine_for(url), env


def _start_consumer(env: dict[str, str], log: Path) -> "subprocess.Popen[bytes]":
    command = [sys.executable, "-m", "handoff.analytics"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))


def _expected(conversations: int) -> dict[str, int]:
    # Each generated conversation: three turns, one escalation, one call-back, one CSAT answer.
    return {
        "turns": 3 * conversations,
        "counted_turns": 3 * conversations,
        "escalations": conversations,
        "callbacks": conversations,
        "csat": conversations,
        "conversations": conversations,
        "delivered": conversations,  # each conversation's last handoff_status
    }


def _counts(engine: Engine) -> dict[str, int]:
    def rows(model: type) -> int:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)

    with Session(engine) as session:
        return {
            "turns": rows(AnalyticsTurn),
            "counted_turns": int(session.scalar(select(func.sum(AnalyticsConversation.turns))) or 0),
            "escalations": rows(AnalyticsEscalation),
            "callbacks": rows(AnalyticsCallback),
            "csat": rows(AnalyticsCsat),
            "conversations": rows(AnalyticsConversation),
            "delivered": int(
                session.scalar(
                    select(func.count()).where(AnalyticsConversation.handoff_status == "delivered")
                )
                or 0
            ),
        }


def _until(condition: Callable[[], bool], what: str, quiet: bool = False) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            if quiet:
                return  # the caller's assertion says what is missing
            raise AssertionError(f"timed out waiting for: {what}")
        time.sleep(0.05)


async def _publish_raw(url: str, queue: str, bodies: list[bytes]) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(queue, durable=True)
        for body in bodies:
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await channel.default_exchange.publish(message, routing_key=queue)


async def _queue_depth(url: str, queue: str) -> int | None:
    """Messages ready in ``queue``; None while it does not exist."""
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return None
        return int(declared.declaration_result.message_count or 0)
