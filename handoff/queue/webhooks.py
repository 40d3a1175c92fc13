"""Outbound webhooks: every new handoff is POSTed to each configured external desk.

Each request carries ``X-Attune-Signature: sha256=<hex HMAC-SHA256 of the raw body>`` made with
ATTUNE_HANDOFF_WEBHOOK_SECRET, so the desk can check it came from us and was not altered, plus
``X-Attune-Event`` and ``X-Attune-Delivery`` (stable across retries: use it to drop duplicates).
Deliveries are rows first, so nothing is lost on a restart; failures are retried with backoff,
and after the last attempt the row is ``dead`` (the dead-letter list) until someone replays it:
``python -m handoff replay-webhooks [--id ID]``.

The payload in the body is masked (handoff/shared/masking.py: e-mails, cards, IBANs, phone numbers,
addresses) unless ATTUNE_HANDOFF_WEBHOOK_UNMASKED=1 says the desks are cleared; the body is masked
first and then signed, so the signature covers exactly what was sent.
"""

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.core.models import WEBHOOK_DEAD, WEBHOOK_DELIVERED, WEBHOOK_PENDING, Handoff, WebhookDelivery
from handoff.shared.backoff import backoff as shared_backoff
from handoff.shared.masking import mask_payload

logger = logging.getLogger(__name__)

EVENT_CREATED = "handoff.created"
TIMEOUT_SECONDS = 5.0
POLL_SECONDS = 1.0
# A desk that is down is retried for hours, not hammered: from 5 s up to one try every 10 minutes.
FIRST_BACKOFF_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 600.0


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> timedelta:
    """After ``attempts`` failures: 5 s, 10 s, 20 s, ... capped at 10 minutes (the shared schedule)."""
    return timedelta(seconds=shared_backoff(attempts, FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS))


def enqueue(session: Session, handoff_id: str, urls: tuple[str, ...], event: str = EVENT_CREATED) -> None:
    """Adds one delivery per URL to the caller's transaction (so a stored handoff always has them)."""
    for url in urls:
        session.add(WebhookDelivery(id=str(uuid.uuid4()), handoff_id=handoff_id, url=url, event=event))


def _body(delivery: Any, handoff: Any, unmasked: bool = False) -> bytes:
    payload = json.loads(handoff.payload)
    document = {
        "event": delivery.event,
        "delivery_id": delivery.id,
        "handoff": {
            "id": handoff.id,
            "status": handoff.status,
            "payload": payload if unmasked else mask_payload(payload),
        },
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def due(
    engine: Engine, now: datetime, limit: int = 20, unmasked: bool = False
) -> list[tuple[str, str, str, bytes]]:
    """(delivery id, url, event, body) of deliveries whose time has come; bodies masked unless told."""
    with Session(engine) as session:
        rows = session.execute(
            select(WebhookDelivery, Handoff)
            .join(Handoff, Handoff.id == WebhookDelivery.handoff_id)
            .where(WebhookDelivery.status == WEBHOOK_PENDING, WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        ).all()
        return [(d.id, d.url, d.event, _body(d, h, unmasked)) for d, h in rows]


def record(engine: Engine, delivery_id: str, error: str | None, max_attempts: int, now: datetime) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(WebhookDelivery, delivery_id)
        if row is None:
            return
        if error is None:
            row.status, row.delivered_at, row.last_error = WEBHOOK_DELIVERED, now, None
            return
        row.attempts += 1
        row.last_error = error[:2000]
        if row.attempts >= max_attempts:
            row.status = WEBHOOK_DEAD
            logger.error(
                "webhook dead-lettered", extra={"delivery": row.id, "url": row.url, "error": row.last_error}
            )
        else:
            row.next_attempt_at = now + backoff(row.attempts)


async def send(
    session: aiohttp.ClientSession, secret: str, delivery_id: str, url: str, event: str, body: bytes
) -> str | None:
    """POSTs one delivery; None when the desk accepted it (2xx), else the error."""
    headers = {
        "Content-Type": "application/json",
        "X-Attune-Event": event,
        "X-Attune-Delivery": delivery_id,
        "X-Attune-Signature": sign(secret, body),
    }
    try:
        async with session.post(url, data=body, headers=headers) as response:
            if 200 <= response.status < 300:
                return None
            return f"HTTP {response.status}: {(await response.text())[:200]}"
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        return f"{type(error).__name__}: {error}"


async def deliver_due(
    engine: Engine, secret: str, max_attempts: int, now: datetime | None = None, unmasked: bool = False
) -> int:
    """One pass over due deliveries; returns how many were accepted."""
    moment = now or datetime.now(timezone.utc)
    batch = await asyncio.to_thread(due, engine, moment, 20, unmasked)
    if not batch:
        return 0
    accepted = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as session:
        for delivery_id, url, event, body in batch:
            error = await send(session, secret, delivery_id, url, event, body)
            await asyncio.to_thread(record, engine, delivery_id, error, max_attempts, moment)
            accepted += error is None
    return accepted


async def run_worker(
    engine: Engine, secret: str, max_attempts: int, poll: float = POLL_SECONDS, unmasked: bool = False
) -> None:
    """Delivers webhooks until cancelled (the app's cleanup_ctx starts and cancels it)."""
    while True:
        await asyncio.sleep(poll)
        try:
            await deliver_due(engine, secret, max_attempts, unmasked=unmasked)
        except Exception:
            logger.exception("webhook pass failed; will try again")


def replay(engine: Engine, delivery_id: str | None = None) -> int:
    """Puts dead deliveries (all, or one) back in the queue; returns how many."""
    with Session(engine) as session, session.begin():
        query = update(WebhookDelivery).where(WebhookDelivery.status == WEBHOOK_DEAD)
        if delivery_id:
            query = query.where(WebhookDelivery.id == delivery_id)
        result = session.execute(
            query.values(status=WEBHOOK_PENDING, attempts=0, next_attempt_at=datetime.now(timezone.utc))
        )
        return int(result.rowcount or 0)


def dead_letters(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as session:
        rows = session.execute(
            select(WebhookDelivery).where(WebhookDelivery.status == WEBHOOK_DEAD)
        ).scalars()
        return [
            {
                "id": r.id,
                "handoff_id": r.handoff_id,
                "url": r.url,
                "attempts": r.attempts,
                "last_error": r.last_error,
            }
            for r in rows
        ]
