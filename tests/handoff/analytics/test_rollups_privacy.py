"""Erasure and retention mark the roll-up days they change stale; the next refresh recomputes them."""

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from handoff.analytics import report, rollups
from handoff.analytics.consumer import Consumer, drain
from handoff.analytics.period import Period
from handoff.analytics.privacy import ROLLUP_DAYS_STALE
from handoff.privacy import customers, personal_data
from tests.support.broker_events import conversation, publish

NOW = datetime(2027, 6, 1, 12, tzinfo=timezone.utc)
RETENTION = personal_data.Retention(emotion_days=30, transcript_days=180, audit_days=730)
THEIRS = "web:" + "c" * 32
OTHERS = "web:" + "d" * 32


def ingest(stores: personal_data.Stores, *groups: tuple[str, datetime]) -> None:
    assert stores.broker is not None
    for sender, start in groups:
        publish(stores.broker, *conversation(sender, start=start.timestamp()))
    drain(Consumer(stores.handoff, stores.broker))


def shown(stores: personal_data.Stores, day: datetime) -> dict[str, report.Metric]:
    """The dashboard's metrics of ``day``, its roll-up brought up to date first (as a page load does)."""
    period = Period(day.date(), day.date(), "")
    rollups.refresh(stores.handoff, period.first, period.last, NOW)
    return {m.definition.key: m for m in report.metrics(report.read_sums(stores.handoff, period), period)}


def test_counts_drop_after_erasing_a_customer(stores: personal_data.Stores) -> None:
    day = NOW - timedelta(days=5)
    customers.resolve(
        stores.handoff, [customers.normalise("session", THEIRS)], customers.Linking(may_merge=True)
    )
    ingest(stores, (THEIRS, day), (OTHERS, day + timedelta(minutes=5)))
    before = shown(stores, day)

    counts = personal_data.erase(stores, f"session:{THEIRS}")
    after = shown(stores, day)

    assert before["conversations"].value == 2 and before["csat"].by_day != []
    assert before["escalations"].by_label == [("frustration", 2)]
    assert counts[ROLLUP_DAYS_STALE] == 1
    assert after["conversations"].value == 1
    assert after["escalations"].by_label == [("frustration", 1)]
    assert after["frustration_at_handoff"].by_label == [("0.6", 1)]


def test_an_erasure_is_recomputed_by_the_next_refresh_of_any_period(stores: personal_data.Stores) -> None:
    day = NOW - timedelta(days=40)
    customers.resolve(
        stores.handoff, [customers.normalise("session", THEIRS)], customers.Linking(may_merge=True)
    )
    ingest(stores, (THEIRS, day), (OTHERS, day))
    shown(stores, day)

    personal_data.erase(stores, f"session:{THEIRS}")
    # A refresh of another period (the worker's today and yesterday) picks the stale day up too.
    refreshed = rollups.refresh(stores.handoff, NOW.date(), NOW.date(), NOW)
    again = rollups.refresh(stores.handoff, NOW.date(), NOW.date(), NOW)

    with stores.handoff.connect() as connection:
        rows = connection.execute(select(rollups.rollup_days.c.day, rollups.rollup_days.c.computed_at)).all()
    computed = {stored_day: moment for stored_day, moment in rows}
    assert refreshed.days == 1 and again.days == 0  # only the erased day (today was computed at NOW)
    assert computed[day.date()].replace(tzinfo=timezone.utc) == NOW
    assert shown(stores, day)["conversations"].value == 1


def test_retention_recomputes_the_days_it_emptied_and_scrubbed(stores: personal_data.Stores) -> None:
    recent, month_old, ancient = "web:" + "1" * 32, "web:" + "2" * 32, "web:" + "3" * 32
    days = {name: NOW - timedelta(days=n) for name, n in ((recent, 29), (month_old, 31), (ancient, 182))}
    ingest(stores, *days.items())
    before = {name: shown(stores, day) for name, day in days.items()}

    counts = personal_data.purge(stores, RETENTION, now=NOW)
    after = {name: shown(stores, day) for name, day in days.items()}

    assert all(m["conversations"].value == 1 for m in before.values())
    assert all(m["frustration_at_handoff"].value == pytest.approx(0.6) for m in before.values())
    assert counts[ROLLUP_DAYS_STALE] == 2  # the ancient day (deleted) and the month-old one (scrubbed)
    assert after[ancient]["conversations"].value == 0
    assert after[month_old]["conversations"].value == 1
    assert after[month_old]["frustration_at_handoff"].value is None  # its scores are gone
    assert after[recent]["frustration_at_handoff"].value == pytest.approx(0.6)


def test_a_day_never_computed_is_left_for_the_refresh_that_asks_for_it(stores: personal_data.Stores) -> None:
    day = NOW - timedelta(days=3)
    customers.resolve(
        stores.handoff, [customers.normalise("session", THEIRS)], customers.Linking(may_merge=True)
    )
    ingest(stores, (THEIRS, day), (OTHERS, day))

    counts = personal_data.erase(stores, f"session:{THEIRS}")

    assert counts[ROLLUP_DAYS_STALE] == 0
    assert shown(stores, day)["conversations"].value == 1
