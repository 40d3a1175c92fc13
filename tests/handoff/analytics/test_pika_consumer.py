"""The RabbitMQ consumer's settings, its wiring in ``python -m handoff.analytics``, and its backoff.

What it does with a live RabbitMQ and Rasa's own Pika broker is in test_pika_faults.py.
"""

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest

from handoff.analytics import pika_consumer
from handoff.analytics.__main__ import main
from handoff.app import create_app
from handoff.core.db import create_engine_for
from handoff.core.settings import ConfigError, Settings
from tests.support.ports import bound_socket, port_of

BASE = {"ATTUNE_SESSION_KEY": "k" * 40}


def test_the_rabbitmq_url_and_queue_are_read_with_rasas_default_queue() -> None:
    settings = Settings.from_env({**BASE, "ATTUNE_RABBITMQ_URL": "amqp://u:p@rabbit:5672/attune"})
    assert (settings.rabbitmq_url, settings.rabbitmq_queue) == (
        "amqp://u:p@rabbit:5672/attune",
        "rasa_core_events",
    )
    named = Settings.from_env(
        {**BASE, "ATTUNE_RABBITMQ_URL": "amqps://r/", "ATTUNE_RABBITMQ_QUEUE": "events"}
    )
    assert (named.rabbitmq_url, named.rabbitmq_queue) == ("amqps://r/", "events")
    assert Settings.from_env(BASE).rabbitmq_url is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ATTUNE_RABBITMQ_URL", "http://rabbit:5672/"),
        ("ATTUNE_RABBITMQ_URL", "rabbit:5672"),
        ("ATTUNE_RABBITMQ_URL", "amqp://" + "a" * 3000),
        ("ATTUNE_RABBITMQ_QUEUE", "amq.events"),
        ("ATTUNE_RABBITMQ_QUEUE", "q" * 256),
        ("ATTUNE_RABBITMQ_QUEUE", "ev\tents"),
        ("ATTUNE_RABBITMQ_QUEUE", "ev\x00ents"),
    ],
)
def test_a_malformed_value_stops_the_consumer_naming_the_variable(name: str, value: str) -> None:
    environ = {**BASE, "ATTUNE_RABBITMQ_URL": "amqp://rabbit/", name: value}
    with pytest.raises(ConfigError, match=name):
        Settings.from_env(environ)


def test_without_any_broker_the_consumer_process_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("ATTUNE_RABBITMQ_URL", "ATTUNE_EVENT_BROKER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ATTUNE_SESSION_KEY", "k" * 40)

    assert main([]) == 2
    error = capsys.readouterr().err
    assert "ATTUNE_RABBITMQ_URL" in error and "ATTUNE_EVENT_BROKER_URL" in error


def test_an_unreachable_rabbitmq_is_retried_with_a_doubling_pause(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'handoff.db'}")
    with bound_socket() as sock:  # bound, not listening: connections are refused
        consumer = pika_consumer.PikaConsumer(engine, f"amqp://guest:guest@127.0.0.1:{port_of(sock)}/")
        logged = caplog.at_level(logging.WARNING, logger=pika_consumer.__name__)
        with logged, pytest.raises(asyncio.TimeoutError):
            asyncio.run(asyncio.wait_for(pika_consumer.run(consumer), timeout=2.0))

    pauses = [record.getMessage().rsplit("reconnecting in ", 1)[-1] for record in caplog.records]
    assert len(pauses) >= 2
    assert pauses == ["0.5 s", "1.0 s", "2.0 s"][: len(pauses)]


async def test_the_service_runs_it_and_keeps_serving_while_rabbitmq_is_unreachable(
    aiohttp_client: Any, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with bound_socket() as sock, caplog.at_level(logging.WARNING, logger=pika_consumer.__name__):
        url = f"amqp://guest:guest@127.0.0.1:{port_of(sock)}/"
        client = await aiohttp_client(create_app(dataclasses.replace(settings, rabbitmq_url=url)))
        for _ in range(100):
            if caplog.records:
                break
            await asyncio.sleep(0.05)
        response = await client.get("/healthz")
        await client.close()

    assert response.status == 200
    assert "reconnecting in 0.5 s" in caplog.records[0].getMessage(), "the worker tried RabbitMQ"
