"""Work the action server repeats on its own timer, not on customer traffic (the outbox and audit senders).

``actions/server.py`` starts every ``Repeating`` task when the server starts and stops it before the
server stops; an action may also call ``ensure_running`` (a server started without that entry point
still sends what it queued).  A tick that fails is logged and the next one runs: a background
sender never dies of one error.
"""

import abc
import asyncio
import contextlib
import logging

logger = logging.getLogger(__name__)


class Repeating(abc.ABC):
    """Runs ``tick`` every ``interval`` seconds in the running event loop, until ``stop``."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """What the task does, for log lines."""

    @abc.abstractmethod
    async def tick(self) -> None:
        """One pass; may raise (logged, and the next pass runs)."""

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def ensure_running(self) -> None:
        """Starts the task in the running loop unless it already runs there (idempotent)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        """Cancels the task and waits for it to end (a pass in flight is abandoned: it is safe to repeat)."""
        task, self._task = self._task, None
        if task is None or task.done():
            return
        task.cancel()
        if task.get_loop() is asyncio.get_running_loop():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                logger.exception("%s: pass failed; will try again", self.name)
            await asyncio.sleep(self._interval)
