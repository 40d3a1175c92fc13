"""What the handoff page's workspace panels show (notes, transfers, colleagues, dispositions).

The console's handoff page (handoff/console/views.py) calls ``for_handoff`` once per page; every
text a colleague typed is masked for the reader's role like the rest of the page.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from handoff.core import access
from handoff.core.accounts import AgentInfo
from handoff.workspace import dispositions, notes, presence, transfers
from handoff.workspace.policy import READ_OTHERS_NOTES, REASSIGN, Disposition, WorkspacePolicy


@dataclass(frozen=True)
class Panels:
    notes: list[dict[str, Any]]
    transfers: list[dict[str, Any]]
    colleagues: list[dict[str, Any]]
    dispositions: tuple[Disposition, ...]
    disposition: dict[str, str | None] | None
    may_reassign: bool
    own_notes_only: bool


def _read(engine: Engine, policy: WorkspacePolicy, handoff_id: str, reader: AgentInfo) -> Panels:
    others = policy.allows(reader.role, READ_OTHERS_NOTES)
    shown = [
        {**note.to_dict(), "body": access.visible_text(note.body, reader.grants)}
        for note in notes.for_handoff(engine, handoff_id, reader.id, others)
    ]
    moves = [
        {**move.to_dict(), "note": access.visible_text(move.note, reader.grants) if move.note else None}
        for move in transfers.history(engine, handoff_id)
    ]
    colleagues = [m.to_dict() for m in presence.team(engine) if m.id != reader.id]
    return Panels(
        notes=shown,
        transfers=moves,
        colleagues=colleagues,
        dispositions=policy.dispositions,
        disposition=dispositions.of_resolved(engine, handoff_id, policy),
        may_reassign=policy.allows(reader.role, REASSIGN),
        own_notes_only=not others,
    )


async def for_handoff(engine: Engine, policy: WorkspacePolicy, handoff_id: str, reader: AgentInfo) -> Panels:
    return await asyncio.to_thread(_read, engine, policy, handoff_id, reader)
