"""Delivering handoffs so that none is lost: outbox first, then the API, retried in the background.

``deliver`` writes the payload to the durable outbox, then tries the handoff service a few times
quickly (the customer is waiting for a reply).  If the service stays unavailable the handoff
remains pending and the ``OutboxFlusher`` task keeps retrying with backoff until it is confirmed.
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

from actions.clients.handoff import HandoffClient, HandoffRejected, HandoffUnavailable
from actions.outbox import Outbox

logger = logging.getLogger(__name__)

QUICK_ATTEMPTS = 3
QUICK_PAUSE_SECONDS = 0.3
FLUSH_INTERVAL_SECONDS = 1.0

Status = Literal["delivered", "queued", "rejected"]


@dataclass(frozen=True)
class DeliveryResult:
    status: Status
    handoff_id: str | None = None
    detail: str = ""
    queue_position: int | None = None
    agents_online: int | None = None
    callback_status: str | None = None


async def _attempt(outbox: Outbox, client: HandoffClient, payload: dict[str, Any]) -> DeliveryResult | None:
    key = str(payload["idempotency_key"])
    try:
        delivered = await client.send(payload)
    except HandoffRejected as error:
        await asyncio.to_thread(outbox.rejected, key, str(error))
        logger.error("handoff %s rejected by the service: %s", key, error)
        return DeliveryResult("rejected", None, str(error))
    except HandoffUnavailable as error:
        await asyncio.to_thread(outbox.failed, key, str(error))
        logger.warning("handoff %s not delivered yet: %s", key, error)
        return None
    await asyncio.to_thread(outbox.delivered, key)
    return DeliveryResult(
        "delivered",
        delivered.handoff_id,
        queue_position=delivered.queue_position,
        agents_online=delivered.agents_online,
        callback_status=delivered.callback_status,
    )


async def deliver(
    payload: dict[str, Any],
    outbox: Outbox,
    client: HandoffClient,
    attempts: int = QUICK_ATTEMPTS,
    pause: float = QUICK_PAUSE_SECONDS,
) -> DeliveryResult:
    """Stores, then sends ``payload``; ``queued`` means it is safe on disk and will be retried."""
    item = await asyncio.to_thread(outbox.put, payload)
    if item.status == "delivered":
        return DeliveryResult("delivered", None, "already delivered")
    for attempt in range(attempts):
        result = await _attempt(outbox, client, payload)
        if result is not None:
            return result
        if attempt + 1 < attempts:
            await asyncio.sleep(pause * (attempt + 1))
    return DeliveryResult("queued", None, "kept in the outbox; retried in the background")


async def flush_once(outbox: Outbox, client: HandoffClient, now: float | None = None) -> int:
    """One pass over due handoffs; returns how many were delivered."""
    delivered = 0
    for item in await asyncio.to_thread(outbox.due, time.time() if now is None else now):
        result = await _attempt(outbox, client, item.payload)
        delivered += result is not None and result.status == "delivered"
    return delivered


class OutboxFlusher:
    """A background task that retries pending handoffs until the outbox is empty."""

    def __init__(
        self, outbox: Outbox, client: HandoffClient, interval: float = FLUSH_INTERVAL_SECONDS
    ) -> None:
        self._outbox = outbox
        self._client = client
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        """Starts the task in the running loop unless it is already running."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await flush_once(self._outbox, self._client)
                if await asyncio.to_thread(self._outbox.pending_count) == 0:
                    return
            except Exception:
                logger.exception("outbox flush failed; will try again")
            await asyncio.sleep(self._interval)
