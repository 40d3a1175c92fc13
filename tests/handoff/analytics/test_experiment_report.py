"""Exposures into analytics_exposures, and `attune experiment report` over the analytics tables."""

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot import cli
from handoff.analytics.experiment_report import load
from handoff.analytics.ingest import BrokerRow, ingest
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import AnalyticsExposure
from tests.support.broker_events import T0, conversation, record, slot, user

EXPERIMENTS = """
experiments:
  - name: tone-test
    start: 2026-11-01
    end: 2026-12-31
    minimum_detectable_effect: 0.05
    primary_metric: self_service_success
    arms:
      - {name: neutral, weight: 1, adaptive: false}
      - {name: adaptive, weight: 1, adaptive: true}
"""


@pytest.fixture
def url(tmp_path: Path) -> str:
    database = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(database)
    return database


@pytest.fixture
def analytics(url: str) -> Engine:
    return create_engine_for(url)


def rows(*events: dict[str, Any]) -> list[BrokerRow]:
    return [BrokerRow(None, json.dumps(e)) for e in events]


def exposure(sender: str, variant: str, at: float = T0 + 5, name: str = "tone-test") -> dict[str, Any]:
    return slot(sender, at, "experiment_exposure", {"experiment": name, "variant": variant})


def exposures(engine: Engine) -> list[tuple[str, str, str]]:
    with Session(engine) as session:
        found = session.execute(
            select(AnalyticsExposure.conversation_id, AnalyticsExposure.experiment, AnalyticsExposure.variant)
        ).all()
    return sorted((str(a), str(b), str(c)) for a, b, c in found)


def test_an_exposure_is_one_row_however_often_it_is_delivered(analytics: Engine) -> None:
    first = exposure("web:a", "neutral")
    assert ingest(analytics, rows(first, first), source=None).inserted == 1
    # Delivered again later, or a second exposure of the same conversation: the first one stands.
    assert ingest(analytics, rows(first, exposure("web:a", "adaptive", at=T0 + 9)), source=None).inserted == 0
    ingest(analytics, rows(exposure("web:a", "adaptive", name="another")), source=None)
    assert exposures(analytics) == [("web:a", "another", "adaptive"), ("web:a", "tone-test", "neutral")]


@pytest.mark.parametrize(
    "value",
    [
        "neutral",
        None,
        {"experiment": 5, "variant": "x"},
        {"experiment": "t"},
        {"experiment": "t" * 65, "variant": "x"},
        {"experiment": "t", "variant": "bad\nvariant"},
        ["tone-test", "neutral"],
    ],
)
def test_a_hostile_exposure_is_dropped_not_the_batch(analytics: Engine, value: Any) -> None:
    good = exposure("web:b", "adaptive")
    result = ingest(analytics, rows(slot("web:a", T0, "experiment_exposure", value), good), source=None)
    assert result.inserted == 1
    assert exposures(analytics) == [("web:b", "tone-test", "adaptive")]


def conversation_in(sender: str, variant: str, success: bool, start: float) -> list[dict[str, Any]]:
    """One exposed conversation: two turns, its last outcome a success or a failure, no escalation."""
    outcome = "refund_done" if success else "refund_rejected"
    return [
        user(sender, start),
        slot(sender, start + 0.1, "turn_record", record(1)),
        exposure(sender, variant, at=start + 0.2),
        user(sender, start + 10),
        slot(sender, start + 10.1, "turn_record", record(2, outcome=outcome)),
    ]


def test_the_outcomes_are_read_per_arm_as_documented(analytics: Engine) -> None:
    events = []
    for i in range(10):
        events += conversation_in(f"web:n{i}", "neutral", success=i < 3, start=T0 + 100 * i)
        events += conversation_in(f"web:a{i}", "adaptive", success=i < 6, start=T0 + 100 * i + 50)
    events += conversation("web:escalated")  # offers a person for frustration, CSAT 4
    events.append(exposure("web:escalated", "adaptive", at=T0 + 25))
    events.append(exposure("web:opted-out", "excluded"))
    ingest(analytics, rows(*events), source=None)

    arms, excluded = load(analytics, "tone-test")

    assert excluded == 1
    assert arms["neutral"].n == 10 and arms["adaptive"].n == 11
    assert arms["neutral"].success.sum() == 3 and arms["adaptive"].success.sum() == 6  # escalated: no success
    assert arms["adaptive"].escalated.sum() == 1
    assert arms["adaptive"].csat.tolist() == [4.0]
    assert arms["adaptive"].time_to_escalation.tolist() == [pytest.approx(20.15)]  # first event at T0 + 10
    # record() scores frustration 0.2 per turn number: a slope of 0.2 in every conversation.
    assert arms["neutral"].frustration_slope == pytest.approx([0.2] * 10)
    assert arms["neutral"].length.tolist() == [2.0] * 10


def test_the_command_prints_the_report_and_writes_the_page(
    analytics: Engine, url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = []
    for i in range(40):
        events += conversation_in(f"web:n{i}", "neutral", success=i % 2 == 0, start=T0 + 100 * i)
        events += conversation_in(f"web:a{i}", "adaptive", success=i % 4 != 0, start=T0 + 100 * i + 50)
    ingest(analytics, rows(*events), source=None)
    policy = tmp_path / "experiments.yml"
    policy.write_text(EXPERIMENTS, encoding="utf-8")
    base = ["experiment", "report", "tone-test", "--database-url", url, "--experiments", str(policy)]

    assert cli.main([*base, "--json", "--today", "2027-01-01", "--html", str(tmp_path / "r.html")]) == 0
    result = json.loads(capsys.readouterr().out)
    comparison = result["comparisons"][0]
    assert result["arms"]["neutral"]["self_service_success"]["mean"] == 0.5
    assert comparison["effects"]["self_service_success"]["estimate"] == pytest.approx(0.25)
    assert comparison["status"] == "underpowered"  # 40 per arm is far from what 5 points need
    assert "<h1>Experiment tone-test</h1>" in (tmp_path / "r.html").read_text(encoding="utf-8")

    assert cli.main([*base, "--today", "2026-12-01"]) == 0
    text = capsys.readouterr().out
    assert "verdict (collecting)" in text and "sample ratio" in text


def test_an_unknown_experiment_or_a_bad_file_is_a_clear_error(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "experiments.yml"
    policy.write_text(EXPERIMENTS, encoding="utf-8")
    assert (
        cli.main(["experiment", "report", "nope", "--database-url", url, "--experiments", str(policy)]) == 2
    )
    assert "known: tone-test" in capsys.readouterr().err
    policy.write_text("experiments: [{name: x}]", encoding="utf-8")
    assert cli.main(["experiment", "report", "x", "--database-url", url, "--experiments", str(policy)]) == 2
    assert "start must be a date" in capsys.readouterr().err
