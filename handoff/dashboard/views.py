"""The dashboard's page and CSV exports: thin views over handoff/analytics/report.py.

Every request needs a console session whose role has ``supervisor_dashboard`` (policy/access.yml:
supervisors and admins); an agent gets 403, as a page in a browser.  The period is checked before
anything is read (400 with the reason).  The roll-ups the period needs are brought up to date
first (handoff/analytics/rollups.py), in a thread, one refresh at a time.
"""

import asyncio
from datetime import datetime, timezone

from aiohttp import web

from handoff.analytics import period as periods
from handoff.analytics import report, rollups
from handoff.analytics.csv_export import to_csv
from handoff.core import access
from handoff.core.app_keys import ENGINE
from handoff.core.pages import render, require_session
from handoff.dashboard import charts
from handoff.dashboard.app_keys import REFRESH_LOCK
from handoff.shared.errors import NotFound


def _shown_value(definition: report.Definition, value: float | None) -> str:
    """A headline as the page writes it: "63.2%", "41 s", "4.2 / 5", "0.71", "1,204"."""
    if value is None:
        return "no data"
    if definition.unit == "%":
        return f"{value:.1f}%"
    if definition.unit == "s":
        return f"{value:,.0f} s" if value < 120 else f"{value / 60:,.1f} min"
    if definition.unit == "/5":
        return f"{value:.2f} / 5"
    return f"{value:,.0f}" if value == int(value) else f"{value:.2f}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def _fresh_period(request: web.Request) -> periods.Period:
    """The asked period (400 when wrong), its roll-ups brought up to date."""
    now = _now()
    period = periods.parse(request.query, now.date())
    async with request.app[REFRESH_LOCK]:
        await asyncio.to_thread(rollups.refresh, request.app[ENGINE], period.first, period.last, now)
    return period


async def page(request: web.Request) -> web.Response:
    """``GET /console/dashboard?from=&to=&channel=``: every metric, its chart, its definition."""
    login = await require_session(request, access.SUPERVISOR_DASHBOARD)
    period = await _fresh_period(request)
    sums = await asyncio.to_thread(report.read_sums, request.app[ENGINE], period)
    shown = []
    for metric in report.metrics(sums, period):
        key, title = metric.definition.key, metric.definition.title
        chart = charts.daily_bars(f"chart-{key}", f"{title} per day", metric.by_day, metric.definition.unit)
        by_label = (
            charts.label_bars(f"labels-{key}", f"{title} by label", metric.by_label)
            if metric.definition.labelled
            else ""
        )
        shown.append(
            {
                "metric": metric,
                "value": _shown_value(metric.definition, metric.value),
                "by_channel": {c: _shown_value(metric.definition, v) for c, v in metric.by_channel.items()},
                "chart": chart,
                "by_label": by_label,
            }
        )
    return render(
        request,
        "dashboard.html",
        agent=login.agent,
        csrf_token=login.csrf_token,
        period=period,
        channels=periods.CHANNELS,
        shown=shown,
        query=period.query(),
    )


async def export(request: web.Request) -> web.Response:
    """``GET /console/dashboard/{metric}.csv``: the roll-up rows one metric is made of."""
    await require_session(request, access.SUPERVISOR_DASHBOARD)
    definition = report.BY_KEY.get(request.match_info["metric"])
    if definition is None:
        raise NotFound(f"no such metric; the dashboard has {', '.join(report.BY_KEY)}")
    period = await _fresh_period(request)
    rows = await asyncio.to_thread(report.read_rows, request.app[ENGINE], period, definition.measures)
    filename = f"attune-{definition.key}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return web.Response(
        text=to_csv(report.csv_rows(rows)),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
