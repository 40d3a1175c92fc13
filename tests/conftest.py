"""Session-wide test set-up shared by every test directory."""

from collections.abc import Iterator

import pytest

from tests.support.migrated_template import TemplatedAlembic


@pytest.fixture(scope="session", autouse=True)
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Fresh SQLite handoff databases start as a copy of one migrated once (support/migrated_template.py)."""
    from handoff.core import migrate

    original = migrate.command
    migrate.command = TemplatedAlembic(tmp_path_factory.mktemp("migrated"))  # type: ignore[assignment]
    yield
    migrate.command = original
