"""A conversation's ``handoff_status`` is that of its latest status event, in whatever order they arrive.

The Pika broker resends what RabbitMQ did not confirm, after newer events (docs/analytics.md).
"""

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.analytics.ingest import BrokerRow, ingest
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import AnalyticsConversation
from tests.support.broker_events import T0, slot

REST = "rest:c1"


@pytest.fixture
def analytics(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    return create_engine_for(url)


def status(at: float, value: str) -> BrokerRow:
    """One Pika message (no broker id) setting ``handoff_status``."""
    return BrokerRow(None, json.dumps(slot(REST, at, "handoff_status", value)))


def stored(engine: Engine) -> tuple[Any, Any]:
    with Session(engine) as session:
        row = session.get(AnalyticsConversation, REST)
        assert row is not None
        at = row.handoff_status_at
        return row.handoff_status, None if at is None else at.timestamp()


def test_two_status_events_delivered_newest_first_end_on_the_newest(analytics: Engine) -> None:
    ingest(analytics, [status(T0 + 20, "delivered"), status(T0 + 10, "queued")], source=None)

    assert stored(analytics) == ("delivered", pytest.approx(T0 + 20))


def test_an_older_status_resent_in_a_later_batch_changes_nothing(analytics: Engine) -> None:
    ingest(analytics, [status(T0 + 10, "queued")], source=None)
    ingest(analytics, [status(T0 + 30, "failed")], source=None)
    ingest(analytics, [status(T0 + 20, "delivered")], source=None)  # resent late

    assert stored(analytics) == ("failed", pytest.approx(T0 + 30))


def test_statuses_delivered_in_order_end_on_the_last(analytics: Engine) -> None:
    ingest(analytics, [status(T0 + 10, "queued"), status(T0 + 20, "delivered")], source=None)

    assert stored(analytics) == ("delivered", pytest.approx(T0 + 20))
