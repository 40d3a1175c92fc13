"""``python -m handoff`` serves the handoff service; ``migrate`` only migrates; ``schema`` writes the
published JSON Schema of the handoff payload (handoff/shared/schema/handoff-payload.v1.json) and the
OpenAPI description of the HTTP API (handoff/openapi.json).
"""

import argparse
import logging
import os
import sys

from aiohttp import web

from handoff.app import create_app
from handoff.core import logging_setup
from handoff.core.migrate import upgrade_to_head
from handoff.core.settings import ConfigError, Settings

logger = logging.getLogger("handoff")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff", description=__doc__)
    parser.add_argument(
        "command",
        nargs="?",
        choices=["serve", "migrate", "schema", "dead-letters", "replay-webhooks"],
        default="serve",
    )
    parser.add_argument("--id", help="replay-webhooks: only this delivery id")
    args = parser.parse_args(argv)
    if args.command == "schema":
        from handoff.openapi import OPENAPI_FILE, document
        from handoff.shared.payload_contract import SCHEMA
        from handoff.shared.schema_file import SCHEMA_FILE, render

        SCHEMA_FILE.write_text(render(SCHEMA))
        OPENAPI_FILE.write_text(render(document()))
        print(f"wrote {SCHEMA_FILE} and {OPENAPI_FILE}")
        return 0
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    logging_setup.configure(settings.log_level, settings.log_format)
    if args.command in ("dead-letters", "replay-webhooks"):
        import json

        from handoff.core.db import create_engine_for
        from handoff.queue import webhooks

        upgrade_to_head(settings.database_url)
        engine = create_engine_for(settings.database_url)
        if args.command == "dead-letters":
            print(json.dumps(webhooks.dead_letters(engine), indent=2))
        else:
            print(f"replayed {webhooks.replay(engine, args.id)} dead webhook deliveries")
        return 0
    if args.command == "migrate":
        upgrade_to_head(settings.database_url)
        logger.info("database migrated", extra={"database_url": _safe(settings.database_url)})
        return 0
    logger.info(
        "handoff service starting",
        extra={
            "url": f"http://{settings.host}:{settings.port}",
            "database_url": _safe(settings.database_url),
        },
    )
    # run_app handles SIGINT/SIGTERM: it stops accepting, runs cleanup_ctx (disposes the engine), returns.
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None, access_log=None)
    return 0


def _safe(url: str) -> str:
    """The URL without its password, for logs."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


if __name__ == "__main__":
    sys.exit(main())
