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


@pytest.fixture(scope="session", autouse=True)
def cheaper_password_hashing() -> Iterator[None]:
    """Scrypt at n=2**10 instead of 2**14 in tests: the same code path, a sixteenth of the work.

    Every service a test starts creates the three demo console accounts (three scrypt hashes, about
    0.1 s), and logins hash again; at the shipped cost that was a third of ``make unit``.  The
    shipped parameters are checked as such in tests/handoff/test_console_security.py.
    """
    from handoff.core import accounts

    shipped = dict(accounts._SCRYPT)
    accounts._SCRYPT.update(n=2**10)
    yield
    accounts._SCRYPT.clear()
    accounts._SCRYPT.update(shipped)
