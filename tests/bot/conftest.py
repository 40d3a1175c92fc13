"""Each test in tests/bot starts from Rasa as shipped.

Building a channel's blueprint installs process-wide fixes into Rasa's classes, once per process
(bot/components/turn_guard.py ``guard_server``), as the Rasa server should.  In one pytest process
that would leak from test to test, so what they replace is put back after every test.
"""

import sys
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def rasa_as_shipped(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if "rasa.core.processor" not in sys.modules:  # nothing imported Rasa: nothing to put back
        yield
        return
    from rasa.core.actions.action import RemoteAction
    from rasa.core.processor import MessageProcessor
    from rasa.core.tracker_store import FailSafeTrackerStore

    from bot.components import action_retry, rasa_speedups, tracker_store

    for owner, name in (
        (RemoteAction, "run"),
        (RemoteAction, "_validate_action_result"),
        (MessageProcessor, "_run_action"),
        (FailSafeTrackerStore, "on_tracker_store_error"),
        (FailSafeTrackerStore, "on_tracker_store_retrieve_error"),
    ):
        monkeypatch.setattr(owner, name, vars(owner)[name])
    yield
    for install in (rasa_speedups.install, tracker_store.install, action_retry.install):
        install.cache_clear()
