from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker

from actions.store.gateway import DemoStore, open_store

TODAY = date(2026, 3, 10)


@pytest.fixture(autouse=True)
def isolated_databases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Actions that reach for process-wide resources get throwaway databases, never var/."""
    from actions import resources

    monkeypatch.setenv("ATTUNE_STORE_DATABASE_URL", f"sqlite:///{tmp_path / 'store.db'}")
    monkeypatch.setenv("ATTUNE_OUTBOX_DATABASE_URL", f"sqlite:///{tmp_path / 'outbox.db'}")
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("ATTUNE_ACTIONS_METRICS_PORT", raising=False)  # no metrics server unless a test asks
    caches = (
        resources._store,
        resources._contacts,
        resources._outbox,
        resources._flusher,
        resources.resume_pending_handoffs,
        resources._audit_queue,
        resources._audit_flusher,
        resources.resume_audit_flusher,
        resources._metrics,
    )
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DemoStore]:
    demo = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    demo.prepare(TODAY)
    yield demo
    demo.close()


def user_event(
    intent: str,
    text: str = "",
    entities: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    event = {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": entities or []},
    }
    return event | {"metadata": metadata} if metadata is not None else event


def tracker(slots: dict[str, Any], events: list[dict[str, Any]], sender: str = "test-customer") -> Tracker:
    """A tracker as the action server would receive it, built inline."""
    # As Rasa sends it: the latest user message's parse data, including its text.
    latest = next(
        (e["parse_data"] | {"text": e["text"]} for e in reversed(events) if e["event"] == "user"), {}
    )
    return Tracker(
        sender_id=sender,
        slots=slots,
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )
