"""Console search: handoffs by order number, customer, text or status, as the reader's role may see them.

The leak this guards against: a role that sees e-mails, phone numbers or addresses masked must not
learn them by searching ("does any handoff mention ada@example.com?").  So text is matched against
what the reader would see (``handoff_search.masked_text`` for a fully masked role, the stored text
for a role that sees everything, and for a policy in between the stored text re-masked with the
role's kinds before a match counts).  Order numbers are matched only when masking leaves them alone,
customer pseudonyms are pseudonymous.  Every query is checked first (handoff/history/queries.py).
"""

from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import and_, false, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from handoff.core import access
from handoff.core.db import as_utc
from handoff.core.models import Handoff, HandoffSearch
from handoff.history.queries import ANY, CUSTOMER, ORDER, TEXT, SearchQuery
from handoff.history.search_index import build, catch_up
from handoff.queue.handoffs import raw_payload
from handoff.shared.masking import ALL, mask_text

PAGE_SIZE: Final = 25
# A policy that masks some kinds but not all: candidates re-masked in Python, at most this many.
MAX_CANDIDATES: Final = 1000


@dataclass(frozen=True)
class Results:
    rows: list[dict[str, Any]]
    page: int
    has_next: bool


def _like(column: Any, term: str) -> ColumnElement[bool]:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f"%{escaped}%", escape="\\")


def _text_column(kinds: frozenset[str]) -> Any:
    return HandoffSearch.clear_text if not kinds else HandoffSearch.masked_text


def _condition(query: SearchQuery, kinds: frozenset[str]) -> ColumnElement[bool]:
    term = query.text.lower()
    if not term:
        return and_(True)
    conditions: list[ColumnElement[bool]] = []
    if query.kind in (ORDER, ANY):
        conditions.append(HandoffSearch.order_number == term)
    if query.kind in (CUSTOMER, ANY):
        conditions.append(HandoffSearch.customer == query.text)
    if query.kind in (TEXT, ANY):
        if kinds and kinds != ALL:  # in between: a superset here, checked against the role's view below
            conditions.append(
                or_(_like(HandoffSearch.clear_text, term), _like(HandoffSearch.masked_text, term))
            )
        else:
            conditions.append(_like(_text_column(kinds), term))
    return or_(*conditions) if conditions else false()


def _row(h: Any, grants: frozenset[str]) -> dict[str, Any]:
    document, _ = raw_payload(h.payload)
    summary = document.get("summary") if isinstance(document, dict) else None
    return {
        "id": h.id,
        "status": h.status,
        "reason": h.reason,
        "created_at": as_utc(h.created_at).isoformat(),
        "conversation": access.visible_text(h.conversation_id, grants),
        "summary": access.visible_text(summary if isinstance(summary, str) else "", grants),
    }


def _seen_by_role(h: Any, query: SearchQuery, kinds: frozenset[str]) -> bool:
    """For a partly masked role: the match is in what the role sees (or an exact id match)."""
    term = query.text.lower()
    search = build(h.conversation_id, h.payload, h.human_transcript)
    if query.kind in (ORDER, ANY) and search.order_number == term:
        return True
    if query.kind in (CUSTOMER, ANY) and search.customer == query.text:
        return True
    return query.kind in (TEXT, ANY) and term in mask_text(search.clear_text, kinds).lower()


def search(engine: Engine, query: SearchQuery, grants: frozenset[str]) -> Results:
    """One page of handoffs matching ``query``, newest first, as ``grants`` may see them."""
    catch_up(engine, recent_only=True)  # what came in since the indexer's last round
    kinds = access.mask_kinds(grants)
    partial = bool(query.text) and bool(kinds) and kinds != ALL
    statement = (
        select(Handoff)
        .join(HandoffSearch, HandoffSearch.handoff_id == Handoff.id)
        .where(_condition(query, kinds))
        .order_by(Handoff.created_at.desc(), Handoff.id.desc())
    )
    if query.status is not None:
        statement = statement.where(Handoff.status == query.status)
    offset = (query.page - 1) * PAGE_SIZE
    with Session(engine) as session:
        if partial:
            candidates = session.execute(statement.limit(MAX_CANDIDATES)).scalars()
            found = [h for h in candidates if _seen_by_role(h, query, kinds)]
            window = found[offset : offset + PAGE_SIZE + 1]
        else:
            window = list(session.execute(statement.offset(offset).limit(PAGE_SIZE + 1)).scalars())
        rows = [_row(h, grants) for h in window[:PAGE_SIZE]]
    return Results(rows, query.page, len(window) > PAGE_SIZE)
