"""The handoff service app served for real on a loopback port, from a thread with its own loop.

For tests that talk HTTP to the service from synchronous code (schemathesis, requests), where
``aiohttp_client`` does not fit.
"""

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.engine import Engine

from handoff.app import create_app
from handoff.core.app_keys import ENGINE
from handoff.core.settings import Settings
from tests.support.console import PASSWORD
from tests.support.ports import free_port


class ServerThread(threading.Thread):
    """``app`` served on 127.0.0.1:``port`` by an AppRunner on this thread's own event loop."""

    def __init__(self, app: web.Application, port: int) -> None:
        super().__init__(name="handoff-on-loopback", daemon=True)
        self.app, self.port = app, port
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.loop = asyncio.new_event_loop()

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        runner = web.AppRunner(self.app)
        try:
            self.loop.run_until_complete(runner.setup())
            self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        except BaseException as error:
            self.error = error
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())
        self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.join(timeout=60)


@contextlib.contextmanager
def console_on_loopback(tmp_path: Path, fill: Callable[[Engine], None], **settings: Any) -> Iterator[str]:
    """The whole handoff service (demo accounts, password ``PASSWORD``) on a free loopback port,
    its database filled by ``fill`` once it is up; yields the base URL, stops it afterwards.
    """
    app = create_app(
        Settings(
            database_url=f"sqlite:///{tmp_path / 'handoff.db'}",
            log_format="text",
            session_key="test-session-key-0123456789abcdef",
            demo_password=PASSWORD,
            **settings,
        )
    )
    server = ServerThread(app, free_port())
    server.start()
    assert server.ready.wait(60) and server.error is None, server.error
    fill(app[ENGINE])
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()
