"""The roll-up worker keeps today's and yesterday's roll-ups fresh, so a page load has nothing to do."""

import asyncio
import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from handoff.analytics import report, rollup_worker, rollups
from handoff.analytics.period import Period
from handoff.app import create_app
from handoff.core.app_keys import ENGINE
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.settings import ConfigError, Settings
from tests.handoff.dashboard.conftest import load
from tests.support.broker_events import conversation

NOW = datetime(2027, 6, 1, 12, tzinfo=timezone.utc)
FIRST, SECOND = "web:" + "1" * 32, "web:" + "2" * 32
WAIT_SECONDS = 10.0


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    engine = create_engine_for(url)
    load(engine, conversation(FIRST, (NOW - timedelta(hours=1)).timestamp()))
    return engine


def computed(engine: Engine) -> dict[object, datetime]:
    with engine.connect() as connection:
        rows = connection.execute(select(rollups.rollup_days.c.day, rollups.rollup_days.c.computed_at)).all()
    return {day: moment.replace(tzinfo=timezone.utc) for day, moment in rows}


def conversations_today(engine: Engine) -> float | None:
    period = Period(NOW.date(), NOW.date(), "")
    by_key = {m.definition.key: m for m in report.metrics(report.read_sums(engine, period), period)}
    return by_key["conversations"].value


def test_a_pass_recomputes_the_open_days_however_fresh(engine: Engine) -> None:
    first = rollup_worker.refresh_open_days(engine, NOW)
    load(engine, conversation(SECOND, (NOW - timedelta(minutes=30)).timestamp()))
    second = rollup_worker.refresh_open_days(engine, NOW + timedelta(seconds=5))

    assert first.days == 2 and second.days == 2
    assert conversations_today(engine) == 2
    yesterday = NOW.date() - timedelta(days=1)
    assert computed(engine) == {NOW.date(): NOW + timedelta(seconds=5), yesterday: NOW + timedelta(seconds=5)}


def test_after_a_pass_a_page_load_within_the_interval_has_nothing_to_do(engine: Engine) -> None:
    rollup_worker.refresh_open_days(engine, NOW)
    load(engine, conversation(SECOND, (NOW - timedelta(minutes=30)).timestamp()))  # ingested meanwhile

    page = rollups.refresh(engine, NOW.date(), NOW.date(), NOW + timedelta(seconds=50))
    shown_then = conversations_today(engine)
    next_pass = rollup_worker.refresh_open_days(engine, NOW + timedelta(seconds=60))

    assert page.days == 0 and shown_then == 1  # at most one interval behind
    assert next_pass.days == 2 and conversations_today(engine) == 2


async def test_the_loop_keeps_passing_after_a_failure(tmp_path: Path) -> None:
    broken = create_engine_for(f"sqlite:///{tmp_path / 'not-migrated.db'}")  # no roll-up tables
    calls: list[datetime] = []

    def clock() -> datetime:
        calls.append(NOW)
        return NOW

    task = asyncio.create_task(rollup_worker.run(broken, 0.01, clock))
    try:
        for _ in range(int(WAIT_SECONDS / 0.01)):
            if len(calls) >= 3:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    assert len(calls) >= 3  # it went on passing after the failed ones


async def test_the_service_runs_it_and_a_setting_turns_it_off(
    aiohttp_client: Any, settings: Settings
) -> None:
    on = await aiohttp_client(create_app(dataclasses.replace(settings, analytics_rollup_seconds=1)))
    today = datetime.now(timezone.utc).date()
    for _ in range(int(WAIT_SECONDS / 0.05)):
        if today in computed(on.app[ENGINE]):
            break
        await asyncio.sleep(0.05)
    assert today in computed(on.app[ENGINE])
    await on.close()
    with on.app[ENGINE].begin() as connection:
        connection.execute(rollups.rollup_days.delete())

    off = await aiohttp_client(create_app(dataclasses.replace(settings, analytics_rollup_seconds=0)))
    await asyncio.sleep(1.5)  # longer than the interval the first service used

    assert computed(off.app[ENGINE]) == {}


@pytest.mark.parametrize("raw", ["60", "-1", "ten", ""])
def test_an_interval_outside_0_to_59_seconds_fails_at_start_up(raw: str) -> None:
    environ = {"ATTUNE_SESSION_KEY": "k" * 32, "ATTUNE_ANALYTICS_ROLLUP_SECONDS": raw}

    with pytest.raises(ConfigError, match="ATTUNE_ANALYTICS_ROLLUP_SECONDS"):
        Settings.from_env(environ)


def test_the_interval_is_read_from_the_environment() -> None:
    environ = {"ATTUNE_SESSION_KEY": "k" * 32}

    assert Settings.from_env(environ).analytics_rollup_seconds == 30
    assert (
        Settings.from_env({**environ, "ATTUNE_ANALYTICS_ROLLUP_SECONDS": "0"}).analytics_rollup_seconds == 0
    )
