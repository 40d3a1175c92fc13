"""Delivering handoffs so that none is lost: outbox first, then the API, retried in the background.

``deliver`` writes the payload to the durable outbox, then tries the handoff service a few times
quickly (the customer is waiting for a reply).  If the service stays unavailable the handoff
remains pending and the outbox's flusher (actions/queue_flusher.py) keeps retrying with backoff
until it is confirmed; the action server starts the flusher with itself (actions/server.py), so a
saved handoff goes out when the service answers again even if no customer writes.  What counts as
unavailable, rejected or misconfigured is actions/clients/http.py's rule.

What is sent is always the body stored in the outbox: a handoff built again under the same
idempotency key (the customer asks again after a restart, Rasa re-runs the action) differs at
least in ``created_at``, and the service refuses a key reused with another body (409).
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from actions import durable_queue as stored
from actions.clients.handoff import Delivered, HandoffClient, HandoffConflict
from actions.durable_queue import QueueItem
from actions.outbox import Outbox
from actions.queue_flusher import (
    FLUSH_INTERVAL_SECONDS,
    LATER,
    REFUSED,
    Attempt,
    QueueFlusher,
    SendOne,
    attempt,
)
from actions.queue_flusher import flush_once as flush_queue

logger = logging.getLogger(__name__)

QUICK_ATTEMPTS = 3
QUICK_PAUSE_SECONDS = 0.3
WHAT = "handoff"

# delivered: the service has it; queued: safe in the outbox, retried in the background;
# rejected: the service refused it; failed: not even stored (the customer must use another way).
Status = Literal["delivered", "queued", "rejected", "failed"]
DELIVERED: Final[Status] = "delivered"
QUEUED: Final[Status] = "queued"
REJECTED: Final[Status] = "rejected"
FAILED: Final[Status] = "failed"
STATUSES: Final[tuple[Status, ...]] = get_args(Status)


@dataclass(frozen=True)
class DeliveryResult:
    status: Status
    handoff_id: str | None = None
    detail: str = ""
    queue_position: int | None = None
    agents_online: int | None = None
    callback_status: str | None = None


@dataclass(frozen=True)
class AlreadyHeld:
    """409: the service holds this key with another body (a second action server sent it first)."""

    detail: str


HandoffAnswer = Delivered | AlreadyHeld


def _send(client: HandoffClient) -> Callable[[dict[str, Any]], Awaitable[HandoffAnswer]]:
    async def send(payload: dict[str, Any]) -> HandoffAnswer:
        try:
            return await client.send(payload)
        except HandoffConflict as error:
            # Another outbox delivered this handoff first: the team has it, so it counts as delivered.
            logger.warning(
                "handoff %s is already held by the service with another body: %s",
                payload.get("idempotency_key"),
                error,
            )
            return AlreadyHeld(str(error))

    return send


async def _attempt(outbox: Outbox, client: HandoffClient, item: QueueItem) -> DeliveryResult | None:
    """Sends the stored payload once; None when the service cannot take it yet (still pending)."""
    tried = await attempt(outbox, item, _send(client), WHAT)
    if tried.outcome == LATER:
        return None
    if tried.outcome == REFUSED:
        return DeliveryResult(REJECTED, None, tried.detail)
    answer = tried.answer
    if not isinstance(answer, Delivered):  # already held by the service: the team has it
        return DeliveryResult(DELIVERED, None, answer.detail if answer else "")
    return DeliveryResult(
        DELIVERED,
        answer.handoff_id,
        queue_position=answer.queue_position,
        agents_online=answer.agents_online,
        callback_status=answer.callback_status,
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
    for tried in range(attempts):
        result = await _attempt(outbox, client, item)
        if result is not None:
            return result
        if tried + 1 < attempts:
            await asyncio.sleep(pause * (tried + 1))
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


def _concluded(item: QueueItem) -> DeliveryResult:
    """A handoff the outbox already has an answer for (it is not sent again)."""
    if item.status == stored.DELIVERED:
        return DeliveryResult(DELIVERED, None, "already delivered")
    return DeliveryResult(REJECTED, None, item.last_error or "rejected by the service")


def _sender(outbox: Outbox, client: HandoffClient) -> SendOne:
    send = _send(client)

    async def send_one(item: QueueItem) -> Attempt[HandoffAnswer]:
        return await attempt(outbox, item, send, WHAT)

    return send_one


async def flush_once(outbox: Outbox, client: HandoffClient, now: float | None = None) -> int:
    """One pass over due handoffs, oldest first, stopping at the first the service cannot take;
    returns how many were delivered (actions/queue_flusher.py).
    """
    return await flush_queue(outbox, _sender(outbox, client), now)


def outbox_flusher(
    outbox: Outbox, client: HandoffClient, interval: float = FLUSH_INTERVAL_SECONDS
) -> QueueFlusher:
    """Retries pending handoffs every ``interval`` seconds, from the action server's start to its stop."""
    return QueueFlusher("handoff outbox flusher", outbox, _sender(outbox, client), interval)
