"""The action server process: rasa-sdk's own app, with Attune's background work tied to its life.

Run it as ``python -m actions.server --port 5055`` (the options of ``python -m rasa_sdk``; the
actions package is always ``actions``).  It serves exactly what rasa-sdk serves (``/webhook``,
``/health``, ``/actions``) and adds two listeners:

- after the server starts: the handoff outbox and audit queue flushers start retrying on their own
  timer (actions/background.py), so a handoff the customer was told is saved goes out when the
  handoff service answers again, with no customer traffic; and the metrics server starts;
- before it stops: the flushers are cancelled (what they had not sent stays on disk for the next run).

rasa-sdk imports this module too (it imports every module under ``actions/``): nothing runs at import.
"""

import argparse
import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from rasa_sdk import endpoint, utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic

from actions import bootstrap, resources, settings
from actions.background import Repeating

logger = logging.getLogger(__name__)

ACTIONS_PACKAGE = "actions"
START_RETRY_SECONDS = 5.0


async def start_background(
    app: Sanic,
    tasks: Callable[[], Sequence[Repeating]] = resources.background_tasks,
    retry: float = START_RETRY_SECONDS,
) -> None:
    """Starts the background tasks; if their stores cannot be opened yet, keeps trying every ``retry`` s."""
    app.ctx.background = []
    while True:
        try:
            resources.mask_logs()
            started = list(tasks())
            for task in started:
                task.ensure_running()
        except Exception:
            logger.exception("background senders not started; trying again in %.0f s", retry)
            await asyncio.sleep(retry)
            continue
        app.ctx.background = started
        logger.info("background senders running: %s", ", ".join(task.name for task in started))
        resources.metrics()  # served from start-up; a port that cannot be bound is logged, not fatal
        return


async def stop_background(app: Sanic) -> None:
    starter = getattr(app.ctx, "starter", None)
    if starter is not None and not starter.done():
        starter.cancel()
    for task in getattr(app.ctx, "background", []):
        await task.stop()


def create_app(
    cors_origins: str | list[str] | None = "*",
    auto_reload: bool = False,
    tasks: Callable[[], Sequence[Repeating]] = resources.background_tasks,
) -> Sanic:
    """rasa-sdk's app for the ``actions`` package, starting and stopping the background tasks with it."""
    app: Sanic = endpoint.create_app(ACTIONS_PACKAGE, cors_origins=cors_origins, auto_reload=auto_reload)

    async def after_start(app: Sanic, _loop: Any) -> None:
        # In its own task: the server answers /health while a store it needs is still coming up.
        app.ctx.starter = asyncio.get_running_loop().create_task(start_background(app, tasks))

    async def before_stop(app: Sanic, _loop: Any) -> None:
        await stop_background(app)

    app.register_listener(after_start, "after_server_start")
    app.register_listener(before_stop, "before_server_stop")
    return app


def _configure_logging(args: argparse.Namespace) -> None:
    """As ``python -m rasa_sdk`` does (rasa_sdk/__main__.py)."""
    logging.getLogger("matplotlib").setLevel(logging.WARN)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(
        logging.getLogger(APPLICATION_ROOT_LOGGER_NAME),
        args.log_file,
        args.loglevel,
        args.logging_config_file,
    )
    utils.update_sanic_log_level()


def main(argv: Sequence[str] | None = None) -> None:
    parser = endpoint.create_argument_parser()
    parser.prog = "python -m actions.server"
    args = parser.parse_args(argv)
    if args.actions not in (None, ACTIONS_PACKAGE):
        parser.error(f"this server runs the {ACTIONS_PACKAGE!r} package; drop --actions {args.actions}")
    _configure_logging(args)
    try:
        bootstrap.bootstrap()  # the composition root; a malformed setting stops the start, naming it
    except settings.ConfigError as error:
        parser.exit(2, f"error: {error}\n")
    app = create_app(args.cors, args.auto_reload)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    ssl_context = endpoint.create_ssl_context(args.ssl_certificate, args.ssl_keyfile, args.ssl_password)
    host = os.environ.get("SANIC_HOST", "0.0.0.0")  # rasa-sdk's own variable, as in rasa_sdk.endpoint.run
    logger.info(
        "Action endpoint is up and running on %s://%s:%s", "https" if ssl_context else "http", host, args.port
    )
    app.run(host, args.port, ssl=ssl_context, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main()
