from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.models import Handoff
from handoff.settings import Settings

# What the Rasa server would sign web chat session ids with (tests sign their own with it).
SESSION_KEY = "test-session-key-0123456789abcdef"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'handoff.db'}", log_format="text", session_key=SESSION_KEY
    )


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
