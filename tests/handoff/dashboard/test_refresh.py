"""Which days a page load's refresh recomputes: new rows on a fresh open day wait for its TTL."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from handoff.analytics import report, rollups
from handoff.analytics.period import Period
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from tests.handoff.dashboard.conftest import load
from tests.support.broker_events import conversation

NOW = datetime(2027, 6, 1, 12, tzinfo=timezone.utc)
FIRST, SECOND = "web:" + "1" * 32, "web:" + "2" * 32


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    engine = create_engine_for(url)
    load(engine, conversation(FIRST, (NOW - timedelta(hours=1)).timestamp()))
    return engine


def conversations_on(engine: Engine, day: datetime) -> float | None:
    period = Period(day.date(), day.date(), "")
    by_key = {m.definition.key: m for m in report.metrics(report.read_sums(engine, period), period)}
    return by_key["conversations"].value


def test_new_rows_on_a_fresh_open_day_wait_for_its_ttl(engine: Engine) -> None:
    today = NOW.date()
    rollups.refresh(engine, today, today, NOW)
    load(engine, conversation(SECOND, (NOW - timedelta(minutes=30)).timestamp()))

    within_ttl = rollups.refresh(engine, today, today, NOW + timedelta(seconds=30))
    shown_then = conversations_on(engine, NOW)
    after_ttl = rollups.refresh(engine, today, today, NOW + rollups.DEFAULT_TTL + timedelta(seconds=1))

    assert within_ttl.days == 0 and shown_then == 1
    assert after_ttl.days == 2  # today and yesterday, the open days
    assert conversations_on(engine, NOW) == 2


def test_rows_that_waited_are_recomputed_once_their_day_has_closed(engine: Engine) -> None:
    today = NOW.date()
    rollups.refresh(engine, today, today, NOW)
    load(engine, conversation(SECOND, (NOW - timedelta(minutes=30)).timestamp()))
    rollups.refresh(engine, today, today, NOW + timedelta(seconds=30))  # waits: today is fresh

    later = NOW + timedelta(days=3)  # nobody refreshed while the day was open
    refreshed = rollups.refresh(engine, later.date(), later.date(), later)

    assert NOW.date() not in {later.date(), later.date() - timedelta(days=1)}
    assert refreshed.days == 3  # the day the waiting rows fall on, and the new open days
    assert conversations_on(engine, NOW) == 2


def test_new_rows_on_a_closed_day_are_recomputed_at_once(engine: Engine) -> None:
    day = NOW - timedelta(days=5)
    rollups.refresh(engine, day.date(), day.date(), NOW)
    load(engine, conversation(SECOND, day.timestamp()))

    refreshed = rollups.refresh(engine, day.date(), day.date(), NOW + timedelta(seconds=1))

    assert refreshed.days == 1 and conversations_on(engine, day) == 1
