"""``python -m handoff.analytics`` killed -9 in the middle of the broker table, then started again:
every event ingested once, none twice.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handoff.analytics.ingest import position
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import AnalyticsConversation, AnalyticsCsat, AnalyticsTurn
from tests.support.broker_events import T0, broker, conversation, publish

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
CONVERSATIONS = 400
EVENTS = CONVERSATIONS * 13


def test_a_consumer_killed_mid_table_and_restarted_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    analytics = create_engine_for(url)
    source = broker(tmp_path / "events.db")
    publish(source, *[e for i in range(CONVERSATIONS) for e in conversation(f"rest:c{i}", start=T0 + i)])
    env = {
        **os.environ,
        "ATTUNE_HANDOFF_DATABASE_URL": url,
        "ATTUNE_EVENT_BROKER_URL": f"sqlite:///{tmp_path / 'events.db'}",
        "ATTUNE_SESSION_KEY": "k" * 40,
        "ATTUNE_LOG_FORMAT": "text",
    }
    command = [sys.executable, "-m", "handoff.analytics"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while position(analytics) == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    reached = position(analytics)
    assert 0 < reached < EVENTS, "killed after the first batch and before the last"

    again = [*command, "--once"]
    done = subprocess.run(again, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert position(analytics) == EVENTS
    with Session(analytics) as session:
        turns = session.scalar(select(func.count()).select_from(AnalyticsTurn))
        csat = session.scalar(select(func.count()).select_from(AnalyticsCsat))
        counted = session.scalar(select(func.sum(AnalyticsConversation.turns)))
    assert (turns, csat, counted) == (3 * CONVERSATIONS, CONVERSATIONS, 3 * CONVERSATIONS)
