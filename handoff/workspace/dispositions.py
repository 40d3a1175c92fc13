"""The disposition of a resolved handoff: a reason code from policy/workspace.yml and the agent's words.

The console's resolve (handoff/console/views.py) records it first, with the same condition the
resolution itself has (the agent holds the handoff), then resolves; a resolution Rasa undoes keeps
the disposition until the next resolve overwrites it, and only a resolved handoff shows one.
"""

from dataclasses import dataclass
from typing import Final

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.core.models import CLAIMED, RESOLVED, Handoff
from handoff.workspace.policy import Disposition, WorkspacePolicy
from handoff.workspace.text import checked

MAX_DISPOSITION_NOTE_CHARS: Final = 500
FIELD: Final = "disposition"
NOTE_FIELD: Final = "disposition_note"


@dataclass(frozen=True)
class Chosen:
    disposition: Disposition
    note: str | None


def chosen(policy: WorkspacePolicy, form: dict[str, str]) -> Chosen | None:
    """The configured reason the form names, with its note; None when none is chosen or it is unknown.

    A note that is too long or holds control characters is InvalidRequest (a 400 naming it).
    """
    disposition = policy.disposition(form.get(FIELD, ""))
    if disposition is None:
        return None
    note = checked(form.get(NOTE_FIELD), "the resolution note", MAX_DISPOSITION_NOTE_CHARS, required=False)
    return Chosen(disposition, note or None)


def record(engine: Engine, handoff_id: str, agent_id: int, choice: Chosen) -> bool:
    """Stores the disposition if ``agent_id`` holds the handoff (the resolve that follows checks the rest)."""
    with Session(engine) as session, session.begin():
        return bool(
            session.execute(
                update(Handoff)
                .where(Handoff.id == handoff_id, Handoff.status == CLAIMED, Handoff.claimed_by == agent_id)
                .values(disposition=choice.disposition.code, disposition_note=choice.note)
            ).rowcount
        )


def of_resolved(engine: Engine, handoff_id: str, policy: WorkspacePolicy) -> dict[str, str | None] | None:
    """The resolved handoff's disposition to show: its code, its label (the code itself when the policy
    no longer lists it) and note; None when it is not resolved or was resolved without one.
    """
    with Session(engine) as session:
        row = session.get(Handoff, handoff_id)
        if row is None or row.status != RESOLVED or row.disposition is None:
            return None
        code, note = str(row.disposition), row.disposition_note
    known = policy.disposition(code)
    return {"code": code, "label": known.label if known else code, "note": note}
