"""The search rows (``handoff_search``): each handoff's searchable text, built from what is stored.

A row holds the texts an agent reads on the handoff page (conversation id, customer, summary, the
bot's transcript, the human part kept on resolving, the slots) twice: as stored, and with every
kind of personal data masked (handoff/shared/masking.py), both lower-cased.  Search then matches a
role that sees data masked against the masked text only, so nobody can find out by searching what
their page would not show them.

Rows are derived, never edited by hand: a handoff whose ``updated_at`` differs from the row's
``source_updated_at`` (a claim, a resolve, the retention period rewriting it) is built again by
``catch_up``, which the background indexer runs every few seconds and each search runs first (in a
bounded batch, so no request waits for a backfill of thousands).  An erasure deletes the row with
its handoff (handoff/privacy/personal_data.py).
"""

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.core.models import Handoff, HandoffSearch
from handoff.queue.handoffs import raw_payload
from handoff.shared.masking import ALL, mask_text

logger = logging.getLogger(__name__)

# Rows built per transaction: a request's catch-up stays short, the background one loops.
BATCH: Final = 200
# An order number is kept for exact look-up only if it looks like one (and masking leaves it alone).
ORDER_NUMBER: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
MAX_ORDER_CHARS: Final = 64
# How far below the newest row a request looks again: transactions that committed out of order.
RECENT: Final = timedelta(seconds=60)


@dataclass(frozen=True)
class SearchRow:
    customer: str | None
    order_number: str | None
    clear_text: str
    masked_text: str


def _texts(payload: dict[str, Any], human: object) -> list[str]:
    """What the handoff page shows as text, in reading order (emotion readings are not searchable)."""
    texts = [str(payload.get("summary") or "")]
    for line in payload.get("transcript") or []:
        if isinstance(line, dict) and isinstance(line.get("text"), str):
            texts.append(line["text"])
    for line in human if isinstance(human, list) else []:
        if isinstance(line, dict) and isinstance(line.get("text"), str):
            texts.append(line["text"])
    slots = payload.get("slots")
    if isinstance(slots, dict):
        texts.extend(str(value) for value in slots.values() if isinstance(value, (str, int)))
    return texts


def customer_of(payload: dict[str, Any]) -> str | None:
    customer = payload.get("customer")
    pseudonym = customer.get("pseudonym") if isinstance(customer, dict) else None
    return pseudonym if isinstance(pseudonym, str) and 0 < len(pseudonym) <= 64 else None


def order_of(payload: dict[str, Any]) -> str | None:
    slots = payload.get("slots")
    value = slots.get("order_id") if isinstance(slots, dict) else None
    text = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not ORDER_NUMBER.fullmatch(text) or mask_text(text, ALL) != text:
        return None
    return text.lower()


def build(conversation_id: str, payload_text: str, human_text: str | None) -> SearchRow:
    """The search row of one stored handoff (an unreadable payload gives an almost empty row)."""
    document, _ = raw_payload(payload_text)
    payload = document if isinstance(document, dict) else {}
    human = raw_payload(human_text)[0] if human_text is not None else None
    customer = customer_of(payload)
    text = "\n".join([conversation_id, customer or "", *_texts(payload, human)])
    return SearchRow(customer, order_of(payload), text.lower(), mask_text(text, ALL).lower())


def _stale(session: Session, limit: int, since: datetime | None) -> list[Any]:
    """Handoffs without a row or with a stale one, oldest change first (so the newest row's time is a
    watermark below which everything was built, give or take ``RECENT``).
    """
    statement = (
        select(
            Handoff.id,
            Handoff.conversation_id,
            Handoff.payload,
            Handoff.human_transcript,
            Handoff.updated_at,
        )
        .outerjoin(HandoffSearch, HandoffSearch.handoff_id == Handoff.id)
        .where(
            or_(
                HandoffSearch.handoff_id.is_(None),
                HandoffSearch.source_updated_at != Handoff.updated_at,
            )
        )
        .order_by(Handoff.updated_at)
        .limit(limit)
    )
    if since is not None:
        statement = statement.where(Handoff.updated_at >= since)
    return list(session.execute(statement).all())


def _watermark(session: Session) -> datetime | None:
    newest = session.execute(select(func.max(HandoffSearch.source_updated_at))).scalar_one_or_none()
    return newest - RECENT if newest is not None else None


def catch_up(engine: Engine, limit: int = BATCH, recent_only: bool = False) -> int:
    """Builds at most ``limit`` rows that are missing or stale; returns how many it built.

    ``recent_only`` (what a request runs): only handoffs changed since the newest row, less
    ``RECENT`` for transactions that committed out of order; an index range, not a scan of every
    handoff.  The background indexer runs the whole comparison.
    """
    with Session(engine) as session:
        stale = _stale(session, limit, _watermark(session) if recent_only else None)
    if not stale:
        return 0
    built = [(row, build(row.conversation_id, row.payload, row.human_transcript)) for row in stale]
    with Session(engine) as session, session.begin():
        ids = [row.id for row, _ in built]
        session.execute(delete(HandoffSearch).where(HandoffSearch.handoff_id.in_(ids)))
        # A handoff deleted meanwhile (an erasure) must not get a row back: only existing ids.
        alive = set(session.execute(select(Handoff.id).where(Handoff.id.in_(ids))).scalars())
        session.add_all(
            HandoffSearch(
                handoff_id=row.id,
                customer=search.customer,
                order_number=search.order_number,
                clear_text=search.clear_text,
                masked_text=search.masked_text,
                source_updated_at=row.updated_at,
            )
            for row, search in built
            if row.id in alive
        )
    return len(built)


def catch_up_all(engine: Engine) -> int:
    """Every missing or stale row (the background indexer, and benchmarks before they measure)."""
    total = 0
    while (count := catch_up(engine)) > 0:
        total += count
    return total


async def run_indexer(engine: Engine, interval_seconds: float) -> None:
    """Keeps the rows in step: a batch, then the next, then a pause once nothing is left."""
    while True:
        try:
            count = await asyncio.to_thread(catch_up, engine)
        except Exception:  # a locked or lost database: the next round tries again
            logger.exception("search rows could not be built; trying again")
            count = 0
        if count < BATCH:
            await asyncio.sleep(interval_seconds)
