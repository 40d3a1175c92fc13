"""The privacy tests' stores: a migrated handoff database and a SQL broker table beside it."""

from pathlib import Path

import pytest

from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.privacy import personal_data
from tests.support.broker_events import broker


@pytest.fixture
def stores(tmp_path: Path) -> personal_data.Stores:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    return personal_data.Stores(create_engine_for(url), broker=broker(tmp_path / "events.db"))
