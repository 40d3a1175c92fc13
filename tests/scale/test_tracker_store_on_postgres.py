"""The shipped tracker store on PostgreSQL: an id PostgreSQL refuses fails that call, not the server.

Issue 12: a NUL in the REST sender made psycopg2 raise ``ValueError`` inside Rasa 3.6's
``SQLTrackerStore.session_scope``, which exits the process.  The channels refuse such ids now
(bot/components/input_checks.py); this checks the store behind them on a real PostgreSQL, built
by Rasa's own factory from endpoints.yml's ``type`` with the keys of docs/operators.md's example.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.utils.endpoints import EndpointConfig

from bot.components import tracker_store
from bot.components.tracker_store import TrackerStoreFailure
from tests.support.datastores import postgres, postgres_bin
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NUL_SENDER = "x\x00"


def require_postgres() -> None:
    """Skips without PostgreSQL (this test needs no Redis); fails instead on CI."""
    if postgres_bin("initdb") is None or postgres_bin("postgres") is None:
        reason = "PostgreSQL is not installed: `make datastores` installs Debian's packages"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def postgres_keys() -> Iterator[dict[str, Any]]:
    require_postgres()
    with postgres(free_port()) as pg:
        pg.create_databases("tracker")
        yield {"dialect": "postgresql", "url": pg.host, "port": pg.port, "db": "tracker", "username": pg.user}


def shipped_store(keys: dict[str, Any]) -> TrackerStore:
    shipped_type = yaml.safe_load((ROOT / "endpoints.yml").read_text())["tracker_store"]["type"]
    return TrackerStore.create(EndpointConfig.from_dict({"type": shipped_type, **keys}), Domain.empty())


async def test_rasas_own_store_exits_on_a_nul_sender(postgres_keys: dict[str, Any]) -> None:
    """The finding, as a fact about Rasa 3.6: why endpoints.yml does not say ``type: SQL``."""
    keys = dict(postgres_keys)
    store = SQLTrackerStore(Domain.empty(), host=keys.pop("url"), **keys)

    with pytest.raises(SystemExit):
        await store.retrieve(NUL_SENDER)


async def test_a_nul_sender_fails_that_call_and_the_store_goes_on(postgres_keys: dict[str, Any]) -> None:
    store = shipped_store(postgres_keys)

    with pytest.raises(TrackerStoreFailure, match="NUL"):
        await store.retrieve(NUL_SENDER)
    tracker = await store.get_or_create_tracker("customer-on-postgres")
    tracker.update(UserUttered("where is my order?"))
    await store.save(tracker)

    stored = await store.retrieve("customer-on-postgres")
    assert stored is not None and stored.latest_message is not None
    assert stored.latest_message.text == "where is my order?"


async def test_behind_rasas_fail_safe_wrapper_the_request_fails_instead_of_forgetting_the_customer(
    postgres_keys: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("on_tracker_store_error", "on_tracker_store_retrieve_error"):
        monkeypatch.setattr(FailSafeTrackerStore, name, getattr(FailSafeTrackerStore, name))
    tracker_store.install.cache_clear()
    tracker_store.install()
    try:
        store = FailSafeTrackerStore(shipped_store(postgres_keys))  # as Rasa's Agent wraps it
        with pytest.raises(TrackerStoreFailure):
            await store.get_or_create_tracker(NUL_SENDER)
        assert await store.retrieve("customer-on-postgres") is not None
    finally:
        tracker_store.install.cache_clear()
