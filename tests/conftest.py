"""Test set-up shared by every test directory.

Every test starts from Rasa as shipped.  Building a channel's blueprint, or loading a model in an
Agent, installs the Rasa patches into Rasa's classes and the root logger's handlers, once per process
(bot/components/rasa_patches.py ``install_rasa_patches``), as the Rasa server should.  In one pytest
process that would leak from test to test (from tests/actions into tests/bot in a full run), so what
they replace is put back after every test, wherever it runs.
"""

import logging
import sys
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


@pytest.fixture(autouse=True)
def fresh_consent_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    """The consent gate's process-wide client holds customers' answers (consent_gate.py): each test
    starts with none, so what one test's service said is never another test's held opt-out.
    """
    gate = sys.modules.get("bot.components.consent_gate")
    if gate is not None:  # not imported yet: nothing held
        monkeypatch.setattr(gate, "_CLIENT", gate.ConsentClient())


@pytest.fixture(autouse=True)
def rasa_as_shipped(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Either module is enough: a test file importing only Rasa's tracker store still gets the
    # patch installed by a fixture, and must get Rasa's own methods back after it.
    if not {"rasa.core.processor", "rasa.core.tracker_store"} & sys.modules.keys():
        yield
        return
    from rasa.core.actions.action import RemoteAction
    from rasa.core.processor import MessageProcessor
    from rasa.core.tracker_store import FailSafeTrackerStore

    from bot.components import action_retry, empathy_once, rasa_patches, reply_guard, tracker_store
    from handoff.shared.masking import MaskingFilter

    for owner, name in (
        (RemoteAction, "run"),
        (RemoteAction, "_validate_action_result"),
        (RemoteAction, "_action_call_format"),
        (MessageProcessor, "_run_action"),
        (FailSafeTrackerStore, "on_tracker_store_error"),
        (FailSafeTrackerStore, "on_tracker_store_retrieve_error"),
    ):
        monkeypatch.setattr(owner, name, vars(owner)[name])
    filters = {handler: list(handler.filters) for handler in logging.getLogger().handlers}
    yield
    for handler in logging.getLogger().handlers:
        kept = filters.get(handler)
        handler.filters = (
            kept if kept is not None else [f for f in handler.filters if not isinstance(f, MaskingFilter)]
        )
    for install in (
        rasa_patches.install_reply_check,
        rasa_patches.mask_logs,
        tracker_store.install,
        action_retry.install,
        empathy_once.install,
        reply_guard.install,
    ):
        install.cache_clear()
