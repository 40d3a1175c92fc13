"""The dashboard over HTTP: who may see it, the period's checks, the page and the CSV exports."""

import csv
import dataclasses
import io
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp.test_utils import TestClient

from handoff.analytics.csv_export import safe_cell, to_csv
from handoff.app import create_app
from handoff.core.app_keys import ENGINE
from handoff.core.settings import Settings
from tests.handoff.dashboard.conftest import DAY, HOSTILE_STATUS, fixture_events, load
from tests.support.console import PASSWORD, log_in

PERIOD = {"from": DAY.isoformat(), "to": DAY.isoformat()}


@pytest.fixture
async def service(aiohttp_client, settings: Settings) -> TestClient:
    client: TestClient = await aiohttp_client(
        create_app(dataclasses.replace(settings, demo_password=PASSWORD))
    )
    load(client.app[ENGINE], fixture_events())
    return client


@pytest.mark.parametrize("role", ["supervisor", "admin"])
async def test_supervisors_and_admins_see_every_metric_with_its_definition(
    service: TestClient, role: str
) -> None:
    await log_in(service, role, PASSWORD)

    page = await service.get("/console/dashboard", params=PERIOD)
    html = await page.text()

    assert page.status == 200
    assert 'data-metric="conversations">4<' in html and 'data-metric="containment">25.0%<' in html
    assert html.count('class="definition"') == 9 and "opted out contribute nothing" in html
    assert html.count("<svg") >= 9 and 'id="chart-csat"' in html
    assert "/console/dashboard/csat.csv?from=" in html


@pytest.mark.parametrize("role", ["agent", "designer"])
async def test_other_roles_get_403_as_a_page(service: TestClient, role: str) -> None:
    await log_in(service, role, PASSWORD)

    page = await service.get("/console/dashboard", headers={"Accept": "text/html"})
    export = await service.get("/console/dashboard/csat.csv")

    assert page.status == 403 and page.content_type == "text/html"
    assert "does not use this part of the console" in await page.text()
    assert export.status == 403


async def test_without_a_session_the_dashboard_sends_to_the_login(service: TestClient) -> None:
    page = await service.get("/console/dashboard", allow_redirects=False)

    assert page.status == 303 and page.headers["Location"] == "/console/login"


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"from": "2026-13-01"}, "not a day in the calendar"),
        ({"from": "yesterday"}, "YYYY-MM-DD"),
        ({"to": "2026-1-1"}, "YYYY-MM-DD"),
        ({"from": "\uff12\uff10\uff12\uff16-01-01"}, "YYYY-MM-DD"),  # fullwidth digits
        ({"from": "2026-02-01", "to": "2026-01-01"}, "must not be after"),
        ({"from": "1999-12-31", "to": "2000-01-05"}, "must lie between"),
        ({"from": "2024-01-01", "to": "2026-01-01"}, "at most 366 days"),
        ({"to": "2999-01-01"}, "must lie between"),
        ({"channel": "fax"}, "'channel' must be one of"),
        ({"from": "2026-01-01\x00"}, "YYYY-MM-DD"),
    ],
)
async def test_a_bad_period_is_400_with_the_reason(
    service: TestClient, query: dict[str, str], reason: str
) -> None:
    await log_in(service, "supervisor", PASSWORD)

    page = await service.get("/console/dashboard", params=query)
    export = await service.get("/console/dashboard/conversations.csv", params=query)

    assert page.status == 400 and export.status == 400
    assert reason in (await export.json())["detail"]


async def test_each_metric_exports_its_rows_as_csv(service: TestClient) -> None:
    await log_in(service, "admin", PASSWORD)

    answer = await service.get("/console/dashboard/containment.csv", params=PERIOD)
    rows = list(csv.reader(io.StringIO(await answer.text())))

    assert answer.status == 200 and answer.content_type == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    assert rows[0] == ["day", "channel", "measure", "label", "count", "total"]
    assert sorted(rows[1:]) == [
        [DAY.isoformat(), "sms", "conversations", "", "1", "0"],
        [DAY.isoformat(), "web", "contained", "", "1", "0"],
        [DAY.isoformat(), "web", "conversations", "", "3", "0"],
    ]


async def test_a_label_a_spreadsheet_would_run_is_exported_as_text(service: TestClient) -> None:
    await log_in(service, "supervisor", PASSWORD)

    answer = await service.get("/console/dashboard/callbacks.csv", params=PERIOD)
    labels = [row[3] for row in csv.reader(io.StringIO(await answer.text()))][1:]

    assert sorted(labels) == sorted(["booked", "booked", "'" + HOSTILE_STATUS])  # web and sms


async def test_an_unknown_metric_is_404(service: TestClient) -> None:
    await log_in(service, "supervisor", PASSWORD)

    answer = await service.get("/console/dashboard/passwords.csv")

    assert answer.status == 404


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_get_an_apostrophe(cell: str) -> None:
    assert safe_cell(cell) == "'" + cell
    assert next(csv.reader(io.StringIO(to_csv([[cell, "plain"]])))) == ["'" + cell, "plain"]


def test_ordinary_cells_and_quotes_are_left_to_csv_quoting() -> None:
    text = to_csv([["a,b", 'say "hi"', "1.5", ""]])

    assert text == '"a,b","say ""hi""",1.5,\r\n'
    assert safe_cell("x=1") == "x=1"


async def test_a_period_defaults_to_the_last_30_days(service: TestClient) -> None:
    await log_in(service, "supervisor", PASSWORD)

    page = await (await service.get("/console/dashboard")).text()

    today = datetime.now(timezone.utc).date()
    first = today - timedelta(days=29)
    assert f'name="from" type="date" value="{first.isoformat()}"' in page
    assert f'name="to" type="date" value="{today.isoformat()}"' in page
    expected = 4 if first <= DAY <= today else 0
    assert f'data-metric="conversations">{expected}<' in page
