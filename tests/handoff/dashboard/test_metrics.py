"""The dashboard's metric definitions computed on a small fixture with known answers."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from actions.outcomes import FAILURE_REASONS
from handoff.analytics import report, rollups
from handoff.analytics.period import Period
from tests.handoff.dashboard.conftest import DAY, HOSTILE_STATUS, LATE_OPT_OUT, T0, load, noon
from tests.support.broker_events import conversation


def shown(engine: Engine, channel: str = "") -> dict[str, report.Metric]:
    period = Period(DAY, DAY, channel)
    rollups.refresh(engine, DAY, DAY, noon(DAY + timedelta(days=5)))
    return {m.definition.key: m for m in report.metrics(report.read_sums(engine, period), period)}


def test_every_metric_follows_its_definition(analytics: Engine) -> None:
    m = shown(analytics)

    assert m["conversations"].value == 4
    assert m["conversations"].by_channel == {"sms": 1, "web": 3}
    assert m["containment"].value == pytest.approx(25.0)  # only the contained conversation
    assert m["self_service"].by_label == [("failed", 7), ("success", 2)]
    assert m["self_service"].value == pytest.approx(100 * 2 / 9)
    assert m["escalations"].by_label == [("frustration", 3)]
    # The first event is the first message (start + 10 s), the escalation at start + 30.15 s.
    assert m["time_to_escalation"].value == pytest.approx(20.15)
    assert "at turn 3.0" in m["time_to_escalation"].detail
    # Only the conversation with consent on every turn: 0.6 at the escalating turn 3.
    assert m["frustration_at_handoff"].value == pytest.approx(0.6)
    assert m["frustration_at_handoff"].by_label == [("0.6", 1)]
    assert m["tone_changes"].value == pytest.approx(100 * 3 / 8)
    assert m["tone_changes"].by_label == [("neutral→apologetic", 3)]
    assert m["callbacks"].by_label == [("booked", 3), (HOSTILE_STATUS, 1)]
    assert m["csat"].value == pytest.approx(4.25)
    assert m["csat"].by_day == [(DAY, 100.0)]  # every answer is a 4 or a 5


def test_a_channel_shows_only_its_conversations(analytics: Engine) -> None:
    m = shown(analytics, "sms")

    assert m["conversations"].value == 1
    assert m["containment"].value == 0.0
    assert m["frustration_at_handoff"].value is None  # the SMS customer opted out


def test_an_opted_out_customer_contributes_no_frustration(analytics: Engine) -> None:
    rollups.refresh(analytics, DAY, DAY, noon(DAY))
    rows = report.read_rows(analytics, Period(DAY, DAY, ""), [rollups.FRUSTRATION_AT_HANDOFF])

    assert [(row.channel, row.how_many, row.total) for row in rows] == [("web", 1, pytest.approx(0.6))]


def test_new_rows_are_added_once_and_a_second_refresh_changes_nothing(analytics: Engine) -> None:
    later = noon(DAY + timedelta(days=5))
    rollups.refresh(analytics, DAY, DAY, later)
    load(analytics, conversation("web:" + "e" * 32, T0 + 1000))
    load(analytics, conversation(LATE_OPT_OUT, T0 + 300))  # redelivered: no new rows, no new counts

    again = rollups.refresh(analytics, DAY, DAY, later)
    once_more = rollups.refresh(analytics, DAY, DAY, later)

    m = shown(analytics)
    assert again.days == 1 and once_more.days == 0
    assert m["conversations"].value == 5 and m["escalations"].by_label == [("frustration", 4)]


def test_a_rebuild_gives_the_same_rows_as_refreshes(analytics: Engine) -> None:
    rollups.refresh(analytics, DAY, DAY, noon(DAY))
    with analytics.connect() as connection:
        before = connection.execute(select(rollups.daily)).all()
    rollups.rebuild(analytics, noon(DAY))
    with analytics.connect() as connection:
        after = connection.execute(select(rollups.daily)).all()

    assert sorted(before) == sorted(after) and len(after) > 10


def test_the_failure_codes_are_the_action_servers() -> None:
    assert set(FAILURE_REASONS) == rollups.FAILED_OUTCOMES
