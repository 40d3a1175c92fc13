from pathlib import Path

import pytest

from handoff.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'handoff.db'}", log_format="text")
