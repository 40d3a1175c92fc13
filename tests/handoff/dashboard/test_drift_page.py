"""Drift control in the console: the banner supervisors see on every page, the drift page, the gauge."""

import dataclasses
from datetime import date, datetime, timezone

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import insert

from bot.empathy import drift as charts
from handoff.analytics import drift
from handoff.app import create_app
from handoff.core.app_keys import ENGINE, METRICS
from handoff.core.models import DriftCheck
from handoff.core.settings import Settings
from tests.support.console import PASSWORD, log_in

DAY = date(2026, 11, 20)
BANNER = "Drift: fallback rate out of control since 2026-11-19"


@pytest.fixture
async def service(aiohttp_client, settings: Settings) -> TestClient:
    client: TestClient = await aiohttp_client(
        create_app(dataclasses.replace(settings, demo_password=PASSWORD))
    )
    return client


async def store(client: TestClient, *points: tuple[date, str, str, str]) -> None:
    """Stores drift points (day, chart, key, status) and refreshes the board as the worker does."""
    rows = [
        {
            "day": day,
            "chart": chart,
            "key": key,
            "value": 0.3 if status == charts.OUT_OF_CONTROL else 0.06,
            "center": 0.06,
            "lower": 0.04,
            "upper": 0.08,
            "n": 300,
            "status": status,
            "checked_at": datetime.now(timezone.utc),
        }
        for day, chart, key, status in points
    ]
    with client.app[ENGINE].begin() as connection:
        connection.execute(insert(DriftCheck), rows)
    await drift.refresh_board(client.app)


def out_since_yesterday() -> list[tuple[date, str, str, str]]:
    yesterday = date(2026, 11, 19)
    return [
        (date(2026, 11, 18), charts.FALLBACK_RATE, "", charts.IN_CONTROL),
        (yesterday, charts.FALLBACK_RATE, "", charts.OUT_OF_CONTROL),
        (DAY, charts.FALLBACK_RATE, "", charts.OUT_OF_CONTROL),
        (DAY, charts.INTENT_SHARE, "order_status", charts.IN_CONTROL),
    ]


@pytest.mark.parametrize("role", ["supervisor", "admin"])
async def test_supervisors_see_the_banner_on_console_pages(service: TestClient, role: str) -> None:
    await store(service, *out_since_yesterday())
    await log_in(service, role, PASSWORD)

    for path in ("/console", "/console/dashboard"):
        html = await (await service.get(path)).text()
        assert BANNER in html, path
        assert 'class="drift-banner" role="status"' in html
        assert 'href="/console/dashboard/drift"' in html
    assert "intent share" not in html  # in control: not in the banner


async def test_an_agent_sees_no_banner_and_may_not_open_the_drift_page(service: TestClient) -> None:
    await store(service, *out_since_yesterday())
    await log_in(service, "agent", PASSWORD)

    queue = await (await service.get("/console")).text()
    page = await service.get("/console/dashboard/drift")

    assert "Drift:" not in queue and "drift-banner" not in queue
    assert page.status == 403


async def test_no_banner_when_every_chart_is_in_control(service: TestClient) -> None:
    await store(
        service,
        (date(2026, 11, 19), charts.FALLBACK_RATE, "", charts.OUT_OF_CONTROL),  # over by today
        (DAY, charts.FALLBACK_RATE, "", charts.IN_CONTROL),
    )
    await log_in(service, "supervisor", PASSWORD)

    html = await (await service.get("/console")).text()

    assert "drift-banner" not in html


async def test_the_drift_page_lists_the_days_points_and_the_recent_alerts(service: TestClient) -> None:
    await store(service, *out_since_yesterday())
    await log_in(service, "supervisor", PASSWORD)

    page = await service.get("/console/dashboard/drift")
    html = await page.text()

    assert page.status == 200
    assert "fallback rate: out of control since 2026-11-19" in html
    assert "Points of 2026-11-20" in html and "intent share &#39;order_status&#39;" in html
    assert html.count('data-status="out_of_control"') == 1
    assert "2026-11-19: fallback rate" in html and "2026-11-20: fallback rate" in html


async def test_the_gauge_counts_the_charts_out_of_control(service: TestClient) -> None:
    await store(service, *out_since_yesterday())

    exposition = service.app[METRICS].exposition().decode()

    assert 'attune_drift_out_of_control{chart="fallback_rate"} 1.0' in exposition
    assert 'attune_drift_out_of_control{chart="intent_share"} 0.0' in exposition
