from pathlib import Path

import pytest

from handoff.core.settings import Settings

# What the Rasa server would sign web chat session ids with (tests sign their own with it).
SESSION_KEY = "test-session-key-0123456789abcdef"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'handoff.db'}", log_format="text", session_key=SESSION_KEY
    )
