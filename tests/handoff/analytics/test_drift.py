"""Drift control's daily job (handoff/analytics/drift.py) on a real SQLite file: the emotion label
ingested only with consent, opted-out turns in no chart, each day checked once, the alert stored,
logged and counted, and the policy file checked.
"""

import json
import logging
import random
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from bot.empathy import drift as charts
from handoff.analytics import drift
from handoff.analytics.ingest import BrokerRow, ingest
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import AnalyticsTurn, DriftCheck
from handoff.core.settings import ConfigError
from tests.support.broker_events import T0, record, slot, user

FIRST = date(2026, 9, 1)
DAYS = 36  # 28 reference + 7 guard + the checked day
LAST = FIRST + timedelta(DAYS - 1)
AFTER_LAST = datetime.combine(LAST + timedelta(days=1), time(1), tzinfo=timezone.utc)
POLICY = drift.DriftPolicy(settings=charts.DriftSettings(min_daily_n=100), backfill_days=60)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    return create_engine_for(url)


def turns(
    engine: Engine,
    day: date,
    n: int,
    fallback: float = 0.06,
    consent: bool = True,
    seed: int = 0,
    frustration: float = 0.0,
) -> None:
    """``n`` customer turns on ``day``: intents, emotion labels and scores drawn with a fixed seed."""
    rng = random.Random(f"{day}-{seed}-{consent}")
    rows: list[dict[str, Any]] = []
    for i in range(n):
        intent = (
            "nlu_fallback" if rng.random() < fallback else rng.choice(["order_status", "greet", "refund"])
        )
        at = datetime.combine(day, time(12), tzinfo=timezone.utc) + timedelta(seconds=i)
        rows.append(
            {
                "conversation_id": f"web:{seed}-{consent}-{day}-{i}",
                "event_key": f"{seed}-{consent}-{day}-{i}",
                "at": at,
                "turn": 1,
                "intent": intent,
                "emotion_processing": "on" if consent else "off",
                "emotion": rng.choice(["neutral", "neutral", "frustration", "joy"]) if consent else None,
                "frustration": min(1.0, rng.betavariate(2, 5) + frustration) if consent else None,
            }
        )
    with engine.begin() as connection:
        connection.execute(insert(AnalyticsTurn), rows)


def stable(engine: Engine, days: int = DAYS) -> None:
    for offset in range(days):
        turns(engine, FIRST + timedelta(offset), 300)


def test_the_emotion_label_is_ingested_only_with_consent(engine: Engine) -> None:
    sender = "web:" + "e" * 32
    events = [
        user(sender, T0),
        slot(sender, T0 + 0.1, "turn_record", record(1, True, emotion="anger")),
        user(sender, T0 + 10),
        # A record that says "off" but carries a label anyway is not believed.
        slot(sender, T0 + 10.1, "turn_record", record(2, False, emotion="anger")),
        user(sender, T0 + 20),
        slot(sender, T0 + 20.1, "turn_record", record(3, True, emotion="x" * 40)),
    ]
    ingest(engine, [BrokerRow(None, json.dumps(e)) for e in events], source=None)

    with engine.connect() as connection:
        stored = connection.execute(select(AnalyticsTurn.turn, AnalyticsTurn.emotion).order_by("turn")).all()
    assert [tuple(row) for row in stored] == [(1, "anger"), (2, None), (3, None)]


def test_opted_out_turns_count_in_no_chart(engine: Engine) -> None:
    stable(engine)
    # A flood of fallbacks from customers who opted out, on the checked day only.
    turns(engine, LAST, 2000, fallback=1.0, consent=False)

    summary = drift.summarise(engine, LAST)
    checked = drift.check_day(engine, LAST, POLICY.settings)

    assert summary.n == 300 and summary.labelled == 300
    assert not [p for p in checked.points if p.out_of_control]
    assert {p.chart for p in checked.points} >= {
        charts.FALLBACK_RATE,
        charts.INTENT_SHARE,
        charts.EMOTION_SHARE,
        charts.FRUSTRATION_EWMA,
    }


def test_the_same_flood_with_consent_is_flagged_stored_logged_and_counted(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    stable(engine, DAYS - 2)
    for day in (LAST - timedelta(days=1), LAST):
        turns(engine, day, 300, fallback=0.30, seed=1)
    alerted: list[str] = []

    with caplog.at_level(logging.WARNING, logger="handoff.analytics.drift"):
        first = drift.check_pending(engine, POLICY, AFTER_LAST, on_alert=alerted.append)
    again = drift.check_pending(engine, POLICY, AFTER_LAST, on_alert=alerted.append)

    assert [c.day for c in first] == [FIRST + timedelta(i) for i in range(DAYS)]
    assert again == []  # each day is checked once
    assert alerted.count(charts.FALLBACK_RATE) == 2
    (alert,) = [a for a in drift.active_alerts(engine) if a.chart == charts.FALLBACK_RATE]
    assert (alert.since, alert.day) == (LAST - timedelta(days=1), LAST)
    assert alert.value > alert.upper
    logged = [r.getMessage() for r in caplog.records if "fallback_rate" in r.getMessage()]
    assert len(logged) == 2 and f"out of control on {LAST}" in logged[-1]
    assert not any("web:" in r.getMessage() for r in caplog.records)  # no conversation ids
    with engine.connect() as connection:
        early = connection.execute(select(DriftCheck.status).where(DriftCheck.day == FIRST)).scalars().all()
    assert early == [charts.NO_REFERENCE]


def test_a_day_checked_again_replaces_its_points(engine: Engine) -> None:
    stable(engine)
    drift.check_day(engine, LAST, POLICY.settings)
    turns(engine, LAST, 300, fallback=0.5, seed=2)  # late data

    checked = drift.check_day(engine, LAST, POLICY.settings, again=True)

    with engine.connect() as connection:
        rows = connection.execute(
            select(func.count()).select_from(DriftCheck).where(DriftCheck.day == LAST)
        ).scalar()
    assert rows == len(checked.points)
    assert any(p.chart == charts.FALLBACK_RATE and p.out_of_control for p in checked.points)


def test_the_shipped_policy_loads_and_a_bad_one_names_the_key() -> None:
    shipped = drift.load_policy()
    assert shipped.settings == charts.DriftSettings() and shipped.enabled

    document = yaml.safe_load(drift.DEFAULT_FILE.read_text(encoding="utf-8"))
    assert drift.parse_policy({**document, "guard_days": 0}, "test.yml").settings.guard_days == 0
    with pytest.raises(ConfigError, match="'ewma_lambda' must be between"):
        drift.parse_policy({**document, "ewma_lambda": 2}, "test.yml")
    with pytest.raises(ConfigError, match="'guard_days' must be a whole number"):
        drift.parse_policy({**document, "guard_days": 1.5}, "test.yml")
    with pytest.raises(ConfigError, match="unknown key 'lamda'"):
        drift.parse_policy({**document, "lamda": 0.2}, "test.yml")
    with pytest.raises(ConfigError, match="'min_reference_days' must be at most"):
        drift.parse_policy({**document, "min_reference_days": 40}, "test.yml")


def test_attune_drift_check_checks_the_pending_days_and_names_what_is_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    engine = create_engine_for(url)
    stable(engine, DAYS - 1)
    turns(engine, LAST, 300, fallback=0.30, seed=1)
    policy = tmp_path / "drift.yml"
    shipped = drift.DEFAULT_FILE.read_text(encoding="utf-8")
    # Every day from the first turn to yesterday (the real one: the command reads the clock).
    changed = shipped.replace("min_daily_n: 200", "min_daily_n: 100").replace(
        "backfill_days: 60", "backfill_days: 3000"
    )
    policy.write_text(changed, encoding="utf-8")

    assert main(["drift", "check", "--database-url", url, "--policy", str(policy)]) == 0
    printed = capsys.readouterr().out
    assert main(["drift", "check", "--database-url", url, "--day", "2999-01-01"]) == 2

    assert f"{LAST}: " in printed and f"fallback_rate since {LAST}" in printed
    assert drift.pending_days(engine, drift.load_policy(policy), datetime.now(timezone.utc)) == []


def test_the_retention_purge_takes_the_emotion_label_with_the_scores(engine: Engine) -> None:
    from handoff.analytics import privacy

    turns(engine, FIRST, 20)
    long_ago = datetime(2000, 1, 1, tzinfo=timezone.utc)

    counts = privacy.purge(engine, emotion_cutoff=AFTER_LAST, transcript_cutoff=long_ago)

    with engine.connect() as connection:
        labelled = connection.execute(
            select(func.count()).select_from(AnalyticsTurn).where(AnalyticsTurn.emotion.is_not(None))
        ).scalar()
    assert counts["analytics_turns_scrubbed"] == 20 and labelled == 0
