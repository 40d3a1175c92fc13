"""Delivering handoffs so that none is lost: outbox first, then the API, retried in the background.

``deliver`` writes the payload to the durable outbox, then tries the handoff service a few times
quickly (the customer is waiting for a reply).  If the service stays unavailable the handoff
remains pending and the ``OutboxFlusher`` keeps retrying with backoff until it is confirmed; the
action server starts the flusher with itself (actions/server.py), so a saved handoff goes out
when the service answers again even if no customer writes.

What is sent is always the body stored in the outbox: a handoff built again under the same
idempotency key (the customer asks again after a restart, Rasa re-runs the action) differs at
least in ``created_at``, and the service refuses a key reused with another body (409).
"""

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Final, Literal

from actions import outbox as stored
from actions.background import Repeating
from actions.clients.handoff import HandoffClient, HandoffConflict, HandoffRejected, HandoffUnavailable
from actions.outbox import Outbox, OutboxItem

logger = logging.getLogger(__name__)

QUICK_ATTEMPTS = 3
QUICK_PAUSE_SECONDS = 0.3
FLUSH_INTERVAL_SECONDS = 1.0

# delivered: the service has it; queued: safe in the outbox, retried in the background;
# rejected: the service refused it; failed: not even stored (the customer must use another way).
Status = Literal["delivered", "queued", "rejected", "failed"]
DELIVERED: Final = "delivered"
QUEUED: Final = "queued"
REJECTED: Final = "rejected"
FAILED: Final = "failed"
STATUSES: Final = (DELIVERED, QUEUED, REJECTED, FAILED)


@dataclass(frozen=True)
class DeliveryResult:
    status: Status
    handoff_id: str | None = None
    detail: str = ""
    queue_position: int | None = None
    agents_online: int | None = None
    callback_status: str | None = None


async def _attempt(outbox: Outbox, client: HandoffClient, item: OutboxItem) -> DeliveryResult | None:
    """Sends the stored payload once; None when the service is unavailable (still pending)."""
    key = item.key
    try:
        delivered = await client.send(item.payload)
    except HandoffConflict as error:
        # Another outbox (a second action server) delivered this handoff first: the team has it.
        await asyncio.to_thread(outbox.delivered, key)
        logger.warning("handoff %s is already held by the service with another body: %s", key, error)
        return DeliveryResult(DELIVERED, None, str(error))
    except HandoffRejected as error:
        await asyncio.to_thread(outbox.rejected, key, str(error))
        logger.error("handoff %s rejected by the service: %s", key, error)
        return DeliveryResult(REJECTED, None, str(error))
    except HandoffUnavailable as error:
        await asyncio.to_thread(outbox.failed, key, str(error))
        logger.warning("handoff %s not delivered yet: %s", key, error)
        return None
    await asyncio.to_thread(outbox.delivered, key)
    return DeliveryResult(
        DELIVERED,
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
    """Stores ``payload`` (unless its key is stored already), then sends the stored body.

    ``queued`` means it is safe on disk and will be retried.  May raise if the outbox itself
    fails; ``settle`` then says what became of the handoff.
    """
    item = await asyncio.to_thread(outbox.put, payload)
    if item.status != stored.PENDING:
        return _concluded(item)
    for attempt in range(attempts):
        result = await _attempt(outbox, client, item)
        if result is not None:
            return result
        if attempt + 1 < attempts:
            await asyncio.sleep(pause * (attempt + 1))
    return DeliveryResult(QUEUED, None, "kept in the outbox; retried in the background")


async def settle(outbox: Outbox, key: str) -> DeliveryResult:
    """What became of a handoff whose delivery raised: the outbox row is the truth; never raises.

    Pending on disk is ``queued`` (the flusher sends it); no row, or no way to read it, is ``failed``.
    """
    try:
        item = await asyncio.to_thread(outbox.get, key)
    except Exception:
        logger.exception("the outbox cannot be read; handoff %s counts as not saved", key)
        return DeliveryResult(FAILED, None, "the outbox could not be read")
    if item is None:
        return DeliveryResult(FAILED, None, "not stored")
    if item.status != stored.PENDING:
        return _concluded(item)
    return DeliveryResult(QUEUED, None, "kept in the outbox; retried in the background")


def _concluded(item: OutboxItem) -> DeliveryResult:
    """A handoff the outbox already has an answer for (it is not sent again)."""
    if item.status == stored.DELIVERED:
        return DeliveryResult(DELIVERED, None, "already delivered")
    return DeliveryResult(REJECTED, None, item.last_error or "rejected by the service")


async def flush_once(outbox: Outbox, client: HandoffClient, now: float | None = None) -> int:
    """One pass over due handoffs, oldest first; returns how many were delivered.

    The pass stops at the first one the service cannot take: while it is down, one call per pass
    finds out (and each handoff still backs off on its own), instead of a timeout per handoff.
    """
    delivered = 0
    for item in await asyncio.to_thread(outbox.due, time.time() if now is None else now):
        result = await _attempt(outbox, client, item)
        if result is None:
            break
        if result.status == DELIVERED:
            logger.info(
                "handoff %s delivered from the outbox after %d failed attempts", item.key, item.attempts
            )
            delivered += 1
    return delivered


class OutboxFlusher(Repeating):
    """Retries pending handoffs every ``interval`` seconds, from the action server's start to its stop."""

    def __init__(
        self, outbox: Outbox, client: HandoffClient, interval: float = FLUSH_INTERVAL_SECONDS
    ) -> None:
        super().__init__(interval)
        self._outbox = outbox
        self._client = client

    @property
    def name(self) -> str:
        return "handoff outbox flusher"

    async def tick(self) -> None:
        await flush_once(self._outbox, self._client)
