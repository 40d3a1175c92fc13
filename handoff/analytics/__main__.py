"""``python -m handoff.analytics``: the analytics consumer as its own process (set
ATTUNE_ANALYTICS_CONSUMER=0 for the handoff service then); ``--once`` ingests what the broker holds
now and exits.  It reads the handoff service's settings (ATTUNE_HANDOFF_DATABASE_URL,
ATTUNE_EVENT_BROKER_URL) and migrates the database as the service does.
"""

import argparse
import asyncio
import contextlib
import os
import sys

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
    if settings.event_broker_url is None:
        print("error: ATTUNE_EVENT_BROKER_URL is not set (Rasa's SQL event broker)", file=sys.stderr)
        return 2
    logging_setup.configure(settings.log_level, settings.log_format)
    upgrade_to_head(settings.database_url)
    analytics = create_engine_for(settings.database_url)
    consumer = Consumer(analytics, broker_engine(settings.event_broker_url))
    if args.once:
        print(f"ingested {drain(consumer)} broker events")
        return 0
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(consumer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
