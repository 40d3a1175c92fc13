"""Handoffs in a test's service: posted through the API as a client would, or inserted as a bare row."""

import copy
import json
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.core.models import Handoff
from handoff.shared.schema_file import EXAMPLE_FILE


async def add_handoff(client: TestClient, **changes: Any) -> str:
    """Posts the contract's example handoff (with ``changes``) through the API; returns its id."""
    payload = {**copy.deepcopy(json.loads(EXAMPLE_FILE.read_text())), **changes}
    payload["transcript"][0]["text"] = "my email is ada@example.com, where is 55556?"
    response = await client.post("/api/v1/handoffs", json=payload)
    return str((await response.json())["id"])


def add_handoff_row(engine: Engine, handoff_id: str = "h1", status: str = "queued") -> None:
    """A bare handoff row, for tests of things that hang off a handoff (call-backs, flags)."""
    with Session(engine) as session, session.begin():
        session.add(
            Handoff(
                id=handoff_id,
                conversation_id=f"rest:conversation-{handoff_id}",
                idempotency_key=f"key-{handoff_id}-0000",
                status=status,
                priority=2,
                reason="distress",
                payload="{}",
            )
        )
