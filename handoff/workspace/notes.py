"""Internal notes on a handoff: written by agents for colleagues, never sent to the customer.

Nothing in this module talks to Rasa or any channel; notes are stored only in ``handoff_notes`` and
shown only on console pages.  Who reads a colleague's note is the workspace policy's
``read_others_notes``; everyone reads their own.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.core.db import as_utc
from handoff.core.models import Agent, Handoff, HandoffNote
from handoff.shared.errors import NotFound
from handoff.workspace.text import checked

MAX_NOTE_CHARS: Final = 2000
MAX_NOTES_SHOWN: Final = 200


@dataclass(frozen=True)
class Note:
    id: int
    author_id: int
    author: str
    body: str
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "author": self.author,
            "body": self.body,
            "created_at": self.created_at.isoformat(),
        }


def add(engine: Engine, handoff_id: str, author_id: int, body: str | None) -> Note:
    text = checked(body, "the note", MAX_NOTE_CHARS)
    with Session(engine) as session, session.begin():
        if session.get(Handoff, handoff_id) is None:
            raise NotFound(f"no handoff {handoff_id!r}")
        row = HandoffNote(handoff_id=handoff_id, author_id=author_id, body=text)
        session.add(row)
        session.flush()
        author = session.get(Agent, author_id)
        return Note(row.id, author_id, author.display_name if author else "?", text, as_utc(row.created_at))


def for_handoff(engine: Engine, handoff_id: str, reader_id: int, others: bool) -> list[Note]:
    """The handoff's notes, oldest first: all of them when ``others``, else only ``reader_id``'s own."""
    query = (
        select(HandoffNote, Agent.display_name)
        .join(Agent, Agent.id == HandoffNote.author_id)
        .where(HandoffNote.handoff_id == handoff_id)
    )
    if not others:
        query = query.where(HandoffNote.author_id == reader_id)
    with Session(engine) as session:
        rows = session.execute(query.order_by(HandoffNote.id).limit(MAX_NOTES_SHOWN)).all()
    return [Note(n.id, n.author_id, name, n.body, as_utc(n.created_at)) for n, name in rows]
