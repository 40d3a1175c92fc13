"""The RabbitMQ broker with a publish timeout (bot/components/event_broker.py), with no RabbitMQ.

The exchange is a fake whose ``publish`` answers as told: hangs forever (what Rasa 3.6's broker
awaited when RabbitMQ was killed), confirms, refuses (``Basic.Nack``) or fails.  The real server is
in tests/handoff/analytics/test_pika_faults.py.
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aio_pika
import pytest
from pamqp.commands import Basic
from rasa.utils.endpoints import EndpointConfig

from bot.components.event_broker import TimedPikaEventBroker

TIMEOUT = 0.05
RESEND = 0.02


class FakeExchange:
    def __init__(self) -> None:
        self.answer = "hang"
        self.confirmed: list[dict[str, Any]] = []
        self.attempts = 0

    async def publish(self, message: aio_pika.Message, routing_key: str) -> object:
        self.attempts += 1
        if self.answer == "hang":
            await asyncio.get_running_loop().create_future()  # never resolved
        if self.answer == "error":
            raise ConnectionResetError("connection lost")
        if self.answer == "nack":
            return Basic.Nack()
        self.confirmed.append(json.loads(message.body))
        return Basic.Ack()


class FakeQueue:
    async def bind(self, exchange: FakeExchange, routing_key: str) -> None:
        pass


class FakeChannel:
    def __init__(self, exchange: FakeExchange) -> None:
        self.exchange = exchange

    async def declare_exchange(self, name: str, type: aio_pika.ExchangeType) -> FakeExchange:
        return self.exchange

    async def declare_queue(self, name: str, durable: bool) -> FakeQueue:
        return FakeQueue()


class FakeConnection:
    """What Rasa's broker uses of aio-pika's robust connection."""

    def __init__(self, exchange: FakeExchange) -> None:
        self.exchange = exchange
        self.reconnect_callbacks: set[Callable[..., None]] = set()
        self.is_closed = False

    async def channel(self) -> FakeChannel:
        return FakeChannel(self.exchange)

    async def __aenter__(self) -> "FakeConnection":
        return self

    async def __aexit__(self, *_: object) -> None:
        self.is_closed = True


class Offline(TimedPikaEventBroker):
    """The broker under test, connected to the fake instead of RabbitMQ."""

    exchange: FakeExchange

    async def _connect(self) -> Any:
        self.exchange = FakeExchange()
        return FakeConnection(self.exchange)


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., Any]]:
    made: list[Offline] = []

    async def build(**options: Any) -> Offline:
        options = {"publish_timeout": TIMEOUT, "resend_seconds": RESEND, **options}
        broker = Offline("localhost", "guest", "guest", queues=["events"], **options)
        await broker.connect()
        made.append(broker)
        return broker

    yield build
    for broker in made:
        await broker.close()


def event(n: int) -> dict[str, Any]:
    return {"sender_id": "rest:c1", "event": "slot", "timestamp": 1_700_000_000 + n, "name": "n", "value": n}


async def settled(broker: Offline, seconds: float = 5.0) -> None:
    """Waits until the broker's publishing tasks are done."""
    deadline = asyncio.get_running_loop().time() + seconds
    while broker._background_tasks:
        assert asyncio.get_running_loop().time() < deadline, "a publish never finished"
        await asyncio.sleep(0.005)


async def test_a_publish_that_never_returns_times_out_and_its_event_is_held(make: Callable[..., Any]) -> None:
    broker = await make(resend_seconds=60)
    broker.publish(event(1))

    await settled(broker)

    assert list(broker._unpublished_events) == [event(1)]
    assert broker.timed_out == 1 and broker.exchange.confirmed == []


async def test_held_events_are_resent_without_a_reconnect_once_rabbitmq_confirms(
    make: Callable[..., Any],
) -> None:
    broker = await make()
    for n in range(3):
        broker.publish(event(n))
    await settled(broker)
    assert len(broker._unpublished_events) == 3

    broker.exchange.answer = "ack"  # RabbitMQ answers again; no reconnect callback fires
    deadline = asyncio.get_running_loop().time() + 5
    while broker._unpublished_events or broker._background_tasks:
        assert asyncio.get_running_loop().time() < deadline, "the held events were not resent"
        await asyncio.sleep(0.01)

    assert sorted(e["value"] for e in broker.exchange.confirmed) == [0, 1, 2]


@pytest.mark.parametrize("answer", ["nack", "error"])
async def test_a_refused_or_failed_publish_holds_its_event(make: Callable[..., Any], answer: str) -> None:
    broker = await make(resend_seconds=60)
    broker.exchange.answer = answer
    broker.publish(event(1))

    await settled(broker)

    assert list(broker._unpublished_events) == [event(1)]
    assert broker.timed_out == 0


async def test_beyond_max_unpublished_the_oldest_held_event_is_dropped_and_counted(
    make: Callable[..., Any],
) -> None:
    broker = await make(resend_seconds=60, max_unpublished=2)
    broker.exchange.answer = "error"
    for n in range(5):
        broker.publish(event(n))
        await settled(broker)

    assert [e["value"] for e in broker._unpublished_events] == [3, 4]
    assert broker.dropped == 3


async def test_the_resender_probes_with_one_event_while_rabbitmq_is_away(make: Callable[..., Any]) -> None:
    broker = await make(publish_timeout=0.01, resend_seconds=0.01)
    broker.exchange.answer = "error"
    for n in range(20):
        broker.publish(event(n))
    await settled(broker)
    attempts = broker.exchange.attempts

    await asyncio.sleep(0.2)  # about 20 resend rounds

    # One publish a round, not the whole deque each time.
    assert 0 < broker.exchange.attempts - attempts <= 25
    assert len(broker._unpublished_events) == 20


async def test_the_endpoints_keys_reach_the_broker() -> None:
    config = EndpointConfig(
        url="localhost",
        type="bot.components.event_broker.TimedPikaEventBroker",
        username="guest",
        password="guest",
        queues=["events"],
        publish_timeout=2.5,
        max_unpublished=10,
    )

    broker = await Offline.from_endpoint_config(config)
    assert isinstance(broker, Offline)
    try:
        assert (broker.publish_timeout, broker.max_unpublished, broker.is_ready()) == (2.5, 10, True)
    finally:
        await broker.close()


@pytest.mark.parametrize(
    "options",
    [{"publish_timeout": 0}, {"max_unpublished": 0}, {"raise_on_failure": True}],
)
def test_settings_that_would_lose_events_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="event_broker"):
        TimedPikaEventBroker("localhost", "guest", "guest", queues=["events"], **options)
