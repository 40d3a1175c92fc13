"""CSAT answers from the action server: checked, stored once, read back for the handoff page.

The action server queues each answer and posts it until it is confirmed (actions/csat_queue.py), so
the same answer can arrive more than once: its ``answer_id`` is the row's key, a repeat is answered
as a duplicate, and the same id with another score or comment is refused (409), never merged.  The
answer is stored with its conversation and with that conversation's latest handoff, whose page shows
it.  No aiohttp here: the view (csat_views.py) parses the request, this module judges the body.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handoff.core.models import CsatAnswer, Handoff
from handoff.shared.errors import IdempotencyKeyReused, InvalidRequest
from handoff.shared.payload_contract import is_id

FIELDS: Final = frozenset({"answer_id", "conversation_id", "score", "comment"})
ANSWER_ID: Final = re.compile("[0-9A-Za-z_-]{8,64}")
MAX_CONVERSATION_CHARS: Final = 255
MAX_COMMENT_CHARS: Final = 1000
MIN_SCORE: Final = 1
MAX_SCORE: Final = 5


@dataclass(frozen=True)
class NewAnswer:
    answer_id: str
    conversation_id: str
    score: int
    comment: str | None


@dataclass(frozen=True)
class StoredAnswer:
    answer_id: str
    conversation_id: str
    handoff_id: str | None
    score: int
    comment: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.answer_id,
            "conversation_id": self.conversation_id,
            "handoff_id": self.handoff_id,
            "score": self.score,
            "comment": self.comment,
            "created_at": self.created_at.isoformat(),
        }


def parse_answer(document: object) -> NewAnswer:
    """The answer in a request body, or InvalidRequest naming the field that is wrong."""
    if not isinstance(document, dict):
        raise InvalidRequest("send a JSON object")
    unknown = sorted(str(key) for key in document if key not in FIELDS)
    if unknown:
        raise InvalidRequest(f"unknown field {unknown[0]!r} (expected: {', '.join(sorted(FIELDS))})")
    answer_id = document.get("answer_id")
    if not isinstance(answer_id, str) or ANSWER_ID.fullmatch(answer_id) is None:
        raise InvalidRequest("answer_id: 8 to 64 letters, digits, '-' or '_'")
    conversation_id = document.get("conversation_id")
    if not is_id(conversation_id, MAX_CONVERSATION_CHARS):
        raise InvalidRequest(
            f"conversation_id: 1 to {MAX_CONVERSATION_CHARS} characters, no control characters"
        )
    score = document.get("score")
    # bool is an int in Python: true is not a score.
    if not isinstance(score, int) or isinstance(score, bool) or not MIN_SCORE <= score <= MAX_SCORE:
        raise InvalidRequest(f"score: a whole number from {MIN_SCORE} to {MAX_SCORE}")
    return NewAnswer(str(answer_id), str(conversation_id), score, _comment(document.get("comment")))


def _comment(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_COMMENT_CHARS:
        raise InvalidRequest(f"comment: text of at most {MAX_COMMENT_CHARS} characters, or null")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise InvalidRequest("comment: no control characters, line breaks or lone surrogates")
    return value


def store(engine: Engine, answer: NewAnswer) -> tuple[StoredAnswer, bool]:
    """Stores the answer once; returns it and whether it was new.  IdempotencyKeyReused for the same
    id with a different answer.
    """
    try:
        with Session(engine) as session, session.begin():
            handoff_id = session.execute(
                select(Handoff.id)
                .where(Handoff.conversation_id == answer.conversation_id)
                .order_by(Handoff.created_at.desc())
                .limit(1)
            ).scalar_one_or_none()
            row = CsatAnswer(
                id=answer.answer_id,
                conversation_id=answer.conversation_id,
                handoff_id=handoff_id,
                score=answer.score,
                comment=answer.comment,
            )
            session.add(row)
            session.flush()
            stored = _stored(row)
        return stored, True
    except IntegrityError:
        pass  # stored before (a retry after a lost reply): the same answer, or a reused id
    with Session(engine) as session:
        existing = session.get(CsatAnswer, answer.answer_id)
        if existing is None:  # pragma: no cover - an integrity error for another reason
            raise
        stored = _stored(existing)
    same = (stored.conversation_id, stored.score, stored.comment) == (
        answer.conversation_id,
        answer.score,
        answer.comment,
    )
    if not same:
        raise IdempotencyKeyReused(
            f"answer {answer.answer_id!r} was stored with another conversation or answer"
        )
    return stored, False


def for_handoff(engine: Engine, handoff_id: str) -> list[StoredAnswer]:
    """The answers given after this handoff, oldest first."""
    with Session(engine) as session:
        rows = session.execute(
            select(CsatAnswer).where(CsatAnswer.handoff_id == handoff_id).order_by(CsatAnswer.created_at)
        ).scalars()
        return [_stored(row) for row in rows]


def _stored(row: CsatAnswer) -> StoredAnswer:
    return StoredAnswer(
        answer_id=str(row.id),
        conversation_id=str(row.conversation_id),
        handoff_id=row.handoff_id,
        score=int(row.score),
        comment=row.comment,
        created_at=row.created_at,
    )
