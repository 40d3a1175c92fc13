"""Canned responses: saved replies agents find with "/" in the reply box, filled from the handoff.

A body may hold slots, ``{order_number}`` and ``{first_name}``; a body naming any other slot is
refused when it is saved, so a typo is found by the supervisor who made it, not by a customer.
When a response is filled for a handoff, a slot the handoff has no value for stays in the text as
it is (``{first_name}``) and is listed in ``missing``: the agent sees it in the reply box and
edits it before sending.  Nothing here sends anything.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from sqlalchemy import delete, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handoff.core.models import CannedResponse
from handoff.shared.errors import Conflict, InvalidRequest, NotFound
from handoff.workspace.text import checked

MAX_BODY_CHARS: Final = 2000  # what a reply may hold (handoff/console/views.py MAX_REPLY_CHARS)
MAX_TITLE_CHARS: Final = 80
MAX_QUERY_CHARS: Final = 64
MAX_RESULTS: Final = 10
MAX_RESPONSES: Final = 500
MAX_SLOT_VALUE_CHARS: Final = 100
SHORTCUT = re.compile("[a-z0-9][a-z0-9_-]{0,31}")
# Anything that looks like a slot: braces around a short word (a lone "{" is just a brace).
SLOT = re.compile(r"\{([^{}\s]{1,40})\}")
# Each slot and where its value comes from in the handoff's payload (the conversation's slots).
SLOT_SOURCES: Final = {
    "order_number": ("order_number", "order_id"),
    "first_name": ("first_name",),
}
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Canned:
    id: int
    shortcut: str
    title: str
    body: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "shortcut": self.shortcut, "title": self.title, "body": self.body}


@dataclass(frozen=True)
class Filled:
    """A response as it goes into the reply box for one handoff."""

    canned: Canned
    text: str
    missing: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**self.canned.to_dict(), "text": self.text, "missing": list(self.missing)}


def _canned(row: Any) -> Canned:
    return Canned(row.id, row.shortcut, row.title, row.body)


def _checked(shortcut: str | None, title: str | None, body: str | None) -> tuple[str, str, str]:
    short = (shortcut or "").strip().lstrip("/").lower()
    if not SHORTCUT.fullmatch(short):
        raise InvalidRequest(
            "the shortcut must be 1 to 32 of a-z, 0-9, _ and -, starting with a letter or digit"
        )
    name = checked(title, "the title", MAX_TITLE_CHARS)
    text = checked(body, "the response", MAX_BODY_CHARS)
    unknown = sorted({slot for slot in SLOT.findall(text) if slot not in SLOT_SOURCES})
    if unknown:
        known = ", ".join(f"{{{slot}}}" for slot in SLOT_SOURCES)
        raise InvalidRequest(f"unknown slot {{{unknown[0][:40]}}}; the slots are {known}")
    return short, name, text


def create(engine: Engine, shortcut: str | None, title: str | None, body: str | None, by: int) -> Canned:
    short, name, text = _checked(shortcut, title, body)
    try:
        with Session(engine) as session, session.begin():
            count = session.execute(select(func.count()).select_from(CannedResponse)).scalar_one()
            if count >= MAX_RESPONSES:
                raise Conflict(f"there are already {MAX_RESPONSES} canned responses; remove one first")
            row = CannedResponse(shortcut=short, title=name, body=text, updated_by=by)
            session.add(row)
            session.flush()
            return _canned(row)
    except IntegrityError as error:
        raise Conflict(f"the shortcut /{short} is taken") from error


def update(
    engine: Engine, canned_id: int, shortcut: str | None, title: str | None, body: str | None, by: int
) -> Canned:
    short, name, text = _checked(shortcut, title, body)
    try:
        with Session(engine) as session, session.begin():
            row = session.get(CannedResponse, canned_id)
            if row is None:
                raise NotFound(f"no canned response {canned_id}")
            row.shortcut, row.title, row.body, row.updated_by = short, name, text, by
            row.updated_at = datetime.now(timezone.utc)
            session.flush()
            return _canned(row)
    except IntegrityError as error:
        raise Conflict(f"the shortcut /{short} is taken") from error


def remove(engine: Engine, canned_id: int) -> None:
    with Session(engine) as session, session.begin():
        if not session.execute(delete(CannedResponse).where(CannedResponse.id == canned_id)).rowcount:
            raise NotFound(f"no canned response {canned_id}")


def all_responses(engine: Engine) -> list[Canned]:
    with Session(engine) as session:
        rows = session.execute(select(CannedResponse).order_by(CannedResponse.shortcut)).scalars()
        return [_canned(row) for row in rows]


def _like(text: str) -> str:
    """``text`` as a LIKE pattern that matches it literally (its own % and _ escaped)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search(engine: Engine, query: str | None) -> list[Canned]:
    """Responses whose shortcut starts with ``query``, then those whose title or text holds it."""
    words = (query or "").strip().lstrip("/").lower()
    if len(words) > MAX_QUERY_CHARS or _UNPRINTABLE.search(words):
        raise InvalidRequest(f"search with 0 to {MAX_QUERY_CHARS} printable characters")
    pattern = f"%{_like(words)}%"
    with Session(engine) as session:
        rows = session.execute(
            select(CannedResponse)
            .where(
                or_(
                    CannedResponse.shortcut.like(f"{_like(words)}%", escape="\\"),
                    func.lower(CannedResponse.title).like(pattern, escape="\\"),
                    func.lower(CannedResponse.body).like(pattern, escape="\\"),
                )
            )
            .order_by(CannedResponse.shortcut)
            .limit(MAX_RESULTS * 5)
        ).scalars()
        found = [_canned(row) for row in rows]
    found.sort(key=lambda c: (not c.shortcut.startswith(words), c.shortcut))
    return found[:MAX_RESULTS]


def slot_values(payload: dict[str, Any]) -> dict[str, str]:
    """What the handoff knows for each slot: the conversation's slots, when they hold a short plain value."""
    slots = payload.get("slots")
    if not isinstance(slots, dict):
        return {}
    values = {}
    for slot, sources in SLOT_SOURCES.items():
        for source in sources:
            value = slots.get(source)
            if isinstance(value, bool) or not isinstance(value, (str, int)):
                continue
            text = str(value).strip()
            if text and len(text) <= MAX_SLOT_VALUE_CHARS and not _UNPRINTABLE.search(text):
                values[slot] = text
                break
    return values


def fill(canned: Canned, values: dict[str, str]) -> Filled:
    """``canned`` with its slots filled from ``values``; a slot without a value stays visible."""
    missing: list[str] = []

    def one(match: re.Match[str]) -> str:
        slot = match.group(1)
        if slot in values:
            return values[slot]
        if slot not in missing:
            missing.append(slot)
        return match.group(0)

    return Filled(canned, SLOT.sub(one, canned.body), tuple(missing))
