"""The handoff service app served for real on a loopback port, from a thread with its own loop.

For tests that talk HTTP to the service from synchronous code (schemathesis, requests), where
``aiohttp_client`` does not fit.
"""

import asyncio
import threading

from aiohttp import web


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
