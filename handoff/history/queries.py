"""What the console's search and resolved-list forms carry, checked before any query runs.

Every field is hostile: bounded in length, free of control and text-direction characters, one of
a closed set where it names one (``Literal`` kinds and statuses), page numbers bounded.  Anything
else is InvalidRequest (400 with the reason), never a query.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Final, Literal, TypeGuard, get_args

from handoff.core import inputs
from handoff.core.models import HandoffStatus, is_handoff_status
from handoff.shared.errors import InvalidRequest
from handoff.workspace.text import checked

SearchKind = Literal["any", "order", "customer", "text"]
ANY: Final[SearchKind] = "any"
ORDER: Final[SearchKind] = "order"
CUSTOMER: Final[SearchKind] = "customer"
TEXT: Final[SearchKind] = "text"
SEARCH_KINDS: Final[tuple[SearchKind, ...]] = get_args(SearchKind)
MAX_QUERY_CHARS: Final = 100
MAX_PAGE: Final = 400
_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CODE: Final = re.compile(r"[a-z0-9_]{1,32}")


def is_search_kind(value: str) -> TypeGuard[SearchKind]:
    return value in SEARCH_KINDS


@dataclass(frozen=True)
class SearchQuery:
    text: str
    kind: SearchKind = ANY
    status: HandoffStatus | None = None
    page: int = 1


@dataclass(frozen=True)
class ResolvedQuery:
    disposition: str | None = None
    agent: int | None = None
    since: datetime | None = None  # from the start of this day (UTC)
    until: datetime | None = None  # to the end of this day (UTC): before the next day's start
    page: int = 1


def page_of(query: Mapping[str, str]) -> int:
    text = query.get("page", "") or "1"
    page = inputs.whole_number(text)
    if page is None or not 1 <= page <= MAX_PAGE:
        raise InvalidRequest(f"page must be a whole number from 1 to {MAX_PAGE}")
    return page


def search_query(query: Mapping[str, str]) -> SearchQuery:
    text = checked(query.get("q", ""), "the search", MAX_QUERY_CHARS, required=False)
    kind = query.get("kind", "") or ANY
    if not is_search_kind(kind):
        raise InvalidRequest(f"kind must be one of {', '.join(SEARCH_KINDS)}")
    status_text = query.get("status", "")
    status: HandoffStatus | None = None
    if status_text:
        if not is_handoff_status(status_text):
            raise InvalidRequest("status must be queued, claimed or resolved (or empty for any)")
        status = status_text
    return SearchQuery(" ".join(text.split()), kind, status, page_of(query))


def _day(text: str, what: str) -> date | None:
    if not text:
        return None
    if not _DATE.fullmatch(text):
        raise InvalidRequest(f"{what} must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise InvalidRequest(f"{what} is not a date in the calendar") from error


def _end_of(day: date | None) -> datetime | None:
    """The start of the day after ``day`` (None for the calendar's last day: nothing is later)."""
    if day is None or day == date.max:
        return None
    return datetime.combine(day + timedelta(days=1), time(), timezone.utc)


def resolved_query(query: Mapping[str, str], codes: frozenset[str]) -> ResolvedQuery:
    disposition = query.get("disposition", "") or None
    if disposition is not None and (not _CODE.fullmatch(disposition) or disposition not in codes):
        raise InvalidRequest("disposition must be one of the reason codes of policy/workspace.yml")
    agent_text = query.get("agent", "")
    agent = inputs.whole_number(agent_text) if agent_text else None
    if agent_text and agent is None:
        raise InvalidRequest("agent must be an agent's id (a whole number)")
    since, until = _day(query.get("from", ""), "from"), _day(query.get("to", ""), "to")
    if since is not None and until is not None and since > until:
        raise InvalidRequest("from must not be after to")
    return ResolvedQuery(
        disposition,
        agent,
        datetime.combine(since, time(), timezone.utc) if since else None,
        _end_of(until),
        page_of(query),
    )
