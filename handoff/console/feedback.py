"""The feedback loop: agents flag wrong emotion readings, supervisors review them, and accepted
corrections become training examples in the project's ``data/`` format.

``export_yaml`` writes them masked (no e-mail addresses or phone numbers end up in training data);
``attune feedback export`` saves that as ``data/emotions/feedback.yml``, which the emotion
component trains from on the next ``make train`` like any other ``data/emotions/*.yml`` file.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handoff.core.models import FLAG_ACCEPTED, FLAG_PENDING, FLAG_REJECTED, EmotionFlag, FlagStatus, Handoff
from handoff.queue.handoffs import stored_payload
from handoff.shared.errors import Conflict, InvalidRequest, NotFound
from handoff.shared.masking import mask_text
from handoff.shared.payload_contract import EMOTION_LABELS


@dataclass(frozen=True)
class Flag:
    id: int
    handoff_id: str
    turn: int
    text: str
    predicted: str
    corrected: str
    status: FlagStatus
    created_at: datetime


def _flag(row: EmotionFlag) -> Flag:
    return Flag(
        row.id, row.handoff_id, row.turn, row.text, row.predicted, row.corrected, row.status, row.created_at
    )


def flag_reading(engine: Engine, handoff_id: str, turn: int, corrected: str, agent_id: int) -> Flag:
    """Records that the reading of customer message ``turn`` should have been ``corrected``."""
    if corrected not in EMOTION_LABELS:
        raise InvalidRequest(f"label must be one of {', '.join(EMOTION_LABELS)}")
    with Session(engine) as session:
        handoff = session.get(Handoff, handoff_id)
        if handoff is None:
            raise NotFound(f"no handoff {handoff_id!r}")
        payload, _problem = stored_payload(handoff.payload)
        readings = {int(r["turn"]): r for r in payload.get("emotions", [])}
    reading = readings.get(turn)
    if reading is None:
        raise InvalidRequest(f"customer message {turn} has no emotion reading in this handoff")
    if reading["top"] == corrected:
        raise InvalidRequest(f"the model already read message {turn} as {corrected}")
    row = EmotionFlag(
        handoff_id=handoff_id,
        turn=turn,
        text=str(reading["text"]),
        predicted=str(reading["top"]),
        corrected=corrected,
        flagged_by=agent_id,
        status=FLAG_PENDING,
    )
    try:
        with Session(engine) as session, session.begin():
            session.add(row)
            session.flush()
            return _flag(row)
    except IntegrityError as error:
        raise Conflict("you have already flagged this message") from error


def flags(engine: Engine, status: FlagStatus = FLAG_PENDING) -> list[Flag]:
    with Session(engine) as session:
        rows = session.execute(
            select(EmotionFlag).where(EmotionFlag.status == status).order_by(EmotionFlag.created_at)
        ).scalars()
        return [_flag(row) for row in rows]


def review(engine: Engine, flag_id: int, accept: bool, reviewer_id: int) -> Flag:
    with Session(engine) as session, session.begin():
        row = session.get(EmotionFlag, flag_id)
        if row is None:
            raise NotFound(f"no flag {flag_id}")
        if row.status != FLAG_PENDING:
            raise Conflict(f"flag {flag_id} was already {row.status}")
        row.status, row.reviewed_by = (FLAG_ACCEPTED if accept else FLAG_REJECTED), reviewer_id
        return _flag(row)


def export_yaml(engine: Engine) -> tuple[str, int]:
    """Accepted corrections as an emotion data file (designer format); returns the text and the count."""
    by_label: dict[str, list[str]] = {}
    seen: set[str] = set()
    for flag in flags(engine, FLAG_ACCEPTED):
        text = " ".join(mask_text(flag.text).split())
        if text and text.lower() not in seen:
            seen.add(text.lower())
            by_label.setdefault(flag.corrected, []).append(text)
    if not by_label:
        return "", 0
    lines = [
        "# Emotion examples from agents' corrections, accepted by a supervisor in the console.",
        "# Written by `attune feedback export` (personal data masked); re-run it rather than edit.",
        'version: "1"',
        "emotions:",
    ]
    for label in EMOTION_LABELS:
        if label in by_label:
            lines += [f"  - emotion: {label}", "    examples: |"] + [f"      - {t}" for t in by_label[label]]
    return "\n".join(lines) + "\n", sum(len(v) for v in by_label.values())
