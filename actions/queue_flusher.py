"""Sending what a durable queue holds: one attempt, one pass, and the background flusher, for every queue.

One attempt sends an item's stored body and records the outcome on the queue, by the failure rule
of actions/clients/http.py: confirmed (delivered), refused for good (rejected: the dead letter),
or not yet (failed: retried after the backoff; a misconfiguration is also logged at ERROR).

A pass takes the due items oldest first and stops at the first one the service cannot take: while
it is down one call per pass finds out (each item still backs off on its own), instead of a timeout
per item.  The ``QueueFlusher`` runs a pass every second from the action server's start
(actions/server.py) to its stop, and ``ensure_running`` starts it again in the running event loop
whenever that loop is not the one it ran in (a restarted loop, a test's loop), so a caller may
simply call it whenever it has queued something.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, Literal, TypeVar

from actions.background import Repeating
from actions.clients.http import ServiceMisconfigured, ServiceRejected, ServiceUnavailable
from actions.durable_queue import DurableQueue, QueueItem

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_SECONDS = 1.0

# How one attempt went: the service has it, refused it for good, or try again later.
AttemptOutcome = Literal["delivered", "rejected", "later"]
SENT: Final[AttemptOutcome] = "delivered"
REFUSED: Final[AttemptOutcome] = "rejected"
LATER: Final[AttemptOutcome] = "later"

T = TypeVar("T")


@dataclass(frozen=True)
class Attempt(Generic[T]):
    outcome: AttemptOutcome
    # The service's answer, when delivered.
    answer: T | None = None
    # Why not, when rejected or later.
    detail: str = ""


SendOne = Callable[[QueueItem], Awaitable[Attempt[Any]]]


async def attempt(
    queue: DurableQueue,
    item: QueueItem,
    send: Callable[[dict[str, Any]], Awaitable[T]],
    what: str,
    now: float | None = None,
) -> Attempt[T]:
    """Sends ``item``'s stored body once with ``send`` and records the outcome on ``queue``."""
    try:
        answer = await send(item.body)
    except ServiceRejected as error:
        await asyncio.to_thread(queue.rejected, item.key, str(error))
        logger.error("%s %s rejected by the service: %s", what, item.key, error)
        return Attempt(REFUSED, detail=str(error))
    except ServiceUnavailable as error:
        await asyncio.to_thread(queue.failed, item.key, str(error), now)
        # A misconfiguration is loud (the client logged it too): nothing arrives until someone acts.
        log = logger.error if isinstance(error, ServiceMisconfigured) else logger.warning
        log("%s %s not delivered yet: %s", what, item.key, error)
        return Attempt(LATER, detail=str(error))
    await asyncio.to_thread(queue.delivered, item.key)
    if item.attempts:
        logger.info("%s %s delivered after %d failed attempts", what, item.key, item.attempts)
    return Attempt(SENT, answer)


async def flush_once(queue: DurableQueue, send_one: SendOne, now: float | None = None) -> int:
    """One pass over due items, oldest first; returns how many were delivered."""
    delivered = 0
    for item in await asyncio.to_thread(queue.due, time.time() if now is None else now):
        result = await send_one(item)
        if result.outcome == LATER:
            break
        delivered += result.outcome == SENT
    return delivered


class QueueFlusher(Repeating):
    """Sends what ``queue`` holds every ``interval`` seconds, until stopped."""

    def __init__(
        self, name: str, queue: DurableQueue, send_one: SendOne, interval: float = FLUSH_INTERVAL_SECONDS
    ) -> None:
        super().__init__(interval)
        self._name = name
        self._queue = queue
        self._send_one = send_one

    @property
    def name(self) -> str:
        return self._name

    async def tick(self) -> None:
        await flush_once(self._queue, self._send_one)
