"""Tracker-store errors fail one request, never the Rasa server (issue 12), on a real SQLite file."""

from pathlib import Path

import pytest
import yaml
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig

from bot.components import tracker_store
from bot.components.tracker_store import GuardedSQLTrackerStore, TrackerStoreFailure

ROOT = Path(__file__).resolve().parents[2]
LONE_SURROGATE = "x\udfff"  # what `curl -d '{"sender":"x\udfff", ...}'` becomes after JSON parsing


@pytest.fixture
def fail_requests() -> None:
    """``tracker_store.install()`` for one test (tests/bot/conftest.py puts Rasa back after it)."""
    tracker_store.install()


def shipped_store(db: Path) -> TrackerStore:
    """The tracker store endpoints.yml configures, built by Rasa's own factory, on ``db``."""
    config = yaml.safe_load((ROOT / "endpoints.yml").read_text())["tracker_store"]
    config["db"] = str(db)
    return TrackerStore.create(EndpointConfig.from_dict(config), Domain.empty())


def test_endpoints_yml_names_the_guarded_store_and_its_sqlite_keys_still_work(tmp_path: Path) -> None:
    store = shipped_store(tmp_path / "tracker.db")

    # A module path Rasa cannot import silently becomes an InMemoryTrackerStore: check the class.
    assert type(store) is GuardedSQLTrackerStore
    assert (tmp_path / "tracker.db").is_file()


async def test_rasas_own_store_exits_the_process_on_a_lone_surrogate(tmp_path: Path) -> None:
    """The finding, kept as a fact about Rasa 3.6: why the shipped store is not ``type: SQL``."""
    rasa_store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "rasa.db"))

    with pytest.raises(SystemExit):
        await rasa_store.retrieve(LONE_SURROGATE)


async def test_an_id_the_database_cannot_take_fails_that_call_only(tmp_path: Path) -> None:
    store = shipped_store(tmp_path / "tracker.db")

    with pytest.raises(TrackerStoreFailure, match="surrogates not allowed"):
        await store.retrieve(LONE_SURROGATE)
    tracker = await store.get_or_create_tracker("an-ordinary-customer")
    tracker.update(UserUttered("where is my order?"))
    await store.save(tracker)

    stored = await store.retrieve("an-ordinary-customer")
    assert stored is not None
    assert stored.latest_message is not None and stored.latest_message.text == "where is my order?"


async def test_rasas_fail_safe_wrapper_no_longer_hides_a_failure_behind_a_new_conversation(
    tmp_path: Path, fail_requests: None
) -> None:
    # Rasa wraps every tracker store like this (Agent._create_tracker_store).
    store = FailSafeTrackerStore(shipped_store(tmp_path / "tracker.db"))

    with pytest.raises(TrackerStoreFailure):
        await store.get_or_create_tracker(LONE_SURROGATE)
    tracker = await store.create_tracker("an-ordinary-customer")
    tracker.sender_id = LONE_SURROGATE  # a write that fails goes nowhere, not to memory
    with pytest.raises(TrackerStoreFailure):
        await store.save(tracker)

    assert store._fallback_tracker_store is None  # never used
    assert await store.retrieve("an-ordinary-customer") is not None


async def test_without_install_rasas_wrapper_answers_a_failed_read_with_an_empty_conversation(
    tmp_path: Path,
) -> None:
    """What ``install`` changes: Rasa would carry on with a bot that forgot the customer."""
    store = FailSafeTrackerStore(shipped_store(tmp_path / "tracker.db"))

    assert await store.retrieve(LONE_SURROGATE) is None


def test_a_missing_postgres_schema_still_stops_the_server_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(_: object) -> None:
        raise ValueError("attune")  # what Rasa's check raises: the schema's name

    monkeypatch.setattr(tracker_store, "ensure_schema_exists", missing)

    with pytest.raises(RasaException, match="schema 'attune'"):
        GuardedSQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "tracker.db"))


async def test_the_message_vector_serves_its_turn_and_is_not_stored(tmp_path: Path) -> None:
    """Issue 18: the action server read it this turn; the stored event and the broker go without it."""
    store = shipped_store(tmp_path / "tracker.db")
    tracker = await store.get_or_create_tracker("a-customer")
    reading = {"top": "neutral", "probabilities": {"neutral": 0.9}, "vector": "f38A", "embedding": [0.1]}
    parse_data = {"intent": {"name": "greet", "confidence": 0.9}, "emotion": reading}
    tracker.update(UserUttered("hi", parse_data["intent"], parse_data=parse_data))  # type: ignore[arg-type]

    await store.save(tracker)

    stored = await store.retrieve("a-customer")
    assert stored is not None
    user = next(e for e in stored.events if isinstance(e, UserUttered))
    assert user.parse_data["emotion"] == {"top": "neutral", "probabilities": {"neutral": 0.9}}  # type: ignore[typeddict-item]
    assert reading["vector"] == "f38A"  # the parsed message itself is left as it was
