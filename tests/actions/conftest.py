from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.store.gateway import DemoStore, open_store
from tests.support.demo_store import TODAY


@pytest.fixture(autouse=True)
def isolated_databases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Actions that reach for process-wide resources get throwaway databases, never var/."""
    from actions import bootstrap

    monkeypatch.setenv("ATTUNE_STORE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("ATTUNE_OUTBOX_DATABASE_URL", f"sqlite:///{tmp_path / 'outbox.db'}")
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("ATTUNE_ACTIONS_METRICS_PORT", raising=False)  # no metrics server unless a test asks
    bootstrap.reset()  # the next use builds the container from these settings
    yield
    bootstrap.reset()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DemoStore]:
    demo = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    demo.prepare(TODAY)
    yield demo
    demo.close()
