"""A small analytics fixture with known answers, ingested the way the consumer ingests broker events."""

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from handoff.analytics.ingest import BrokerRow, ingest
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from tests.support.broker_events import T0, conversation, record, slot, user

DAY = datetime.fromtimestamp(T0, timezone.utc).date()
HANDED_OFF = "web:" + "a" * 32  # consent on: its frustration at handoff counts
OPTED_OUT = "sms:+447700900123"  # consent off throughout
CONTAINED = "web:" + "c" * 32  # two successful look-ups, no escalation
LATE_OPT_OUT = "web:" + "d" * 32  # consent on, then off at turn 4: contributes no frustration
HOSTILE_STATUS = '=HYPERLINK("http://x","y")'


def contained(sender: str, start: float) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for turn in (1, 2):
        at = start + 10 * turn
        value = record(turn, True, "none", outcome="order_found", tone="neutral")
        events += [user(sender, at), slot(sender, at + 0.1, "turn_record", value)]
    events += [
        slot(sender, start + 40, "callback_status", HOSTILE_STATUS),
        slot(sender, start + 50, "csat_answer", {"score": 5, "comment": None}),
    ]
    return events


def late_opt_out(sender: str, start: float) -> list[dict[str, Any]]:
    turn4 = record(4, consent=False, decision="none")
    return [
        *conversation(sender, start),
        user(sender, start + 70),
        slot(sender, start + 70.1, "turn_record", turn4),
    ]


def fixture_events() -> list[dict[str, Any]]:
    return [
        *conversation(HANDED_OFF, T0),
        *conversation(OPTED_OUT, T0 + 100, consent=False),
        *contained(CONTAINED, T0 + 200),
        *late_opt_out(LATE_OPT_OUT, T0 + 300),
    ]


def load(engine: Engine, events: list[dict[str, Any]]) -> None:
    ingest(engine, [BrokerRow(None, json.dumps(event)) for event in events], source=None)


@pytest.fixture
def analytics(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    engine = create_engine_for(url)
    load(engine, fixture_events())
    return engine


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc)
