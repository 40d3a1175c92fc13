"""``python -m handoff.analytics``: the analytics consumer as its own process (set
ATTUNE_ANALYTICS_CONSUMER=0 for the handoff service then); ``--once`` ingests what the broker holds
now and exits.  It reads the handoff service's settings (ATTUNE_HANDOFF_DATABASE_URL, and
ATTUNE_RABBITMQ_URL for Rasa's Pika broker or else ATTUNE_EVENT_BROKER_URL for its SQL broker) and
migrates the database as the service does.
"""

import argparse
import asyncio
import contextlib
import os
import sys

from sqlalchemy.engine import Engine

from handoff.analytics import pika_consumer
from handoff.analytics.consumer import Consumer, broker_engine, drain, run
from handoff.core import logging_setup
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.settings import ConfigError, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff.analytics", description=__doc__)
    parser.add_argument("--once", action="store_true", help="ingest what the broker holds now, then exit")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if settings.rabbitmq_url is not None:
        url, queue = settings.rabbitmq_url, settings.rabbitmq_queue
        return _rabbitmq(pika_consumer.PikaConsumer(_analytics(settings), url, queue), args.once)
    if settings.event_broker_url is None:
        print(
            "error: neither ATTUNE_RABBITMQ_URL (Rasa's Pika broker) nor ATTUNE_EVENT_BROKER_URL"
            " (Rasa's SQL event broker) is set",
            file=sys.stderr,
        )
        return 2
    consumer = Consumer(_analytics(settings), broker_engine(settings.event_broker_url))
    if args.once:
        print(f"ingested {drain(consumer)} broker events")
        return 0
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(consumer))
    return 0


def _analytics(settings: Settings) -> Engine:
    """Logging set up, the database migrated, and an engine on it."""
    logging_setup.configure(settings.log_level, settings.log_format)
    upgrade_to_head(settings.database_url)
    return create_engine_for(settings.database_url)


def _rabbitmq(consumer: pika_consumer.PikaConsumer, once: bool) -> int:
    if once:
        print(f"ingested {asyncio.run(pika_consumer.drain(consumer))} broker events")
        return 0
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(pika_consumer.run(consumer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
