"""Drift control in the console: ``/console/dashboard/drift`` and the banner of every console page.

The page (supervisors and admins: ``supervisor_dashboard``; an agent gets 403) lists the charts out
of control on the latest checked day, every point of that day with its limits, and the alerts of
the last ``HISTORY_DAYS`` days.  The banner (console/templates/base.html) reads the alerts the drift
worker keeps in the app (handoff/analytics/drift.py ``DriftBoard``): no query per page.
"""

import asyncio
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.empathy import drift as charts
from handoff.analytics import drift
from handoff.core import access
from handoff.core.app_keys import ENGINE
from handoff.core.models import DriftCheck
from handoff.core.pages import render, require_session

HISTORY_DAYS: Final = 30
TITLES: Final[dict[str, str]] = {
    charts.FALLBACK_RATE: "fallback rate",
    charts.INTENT_SHARE: "intent share",
    charts.EMOTION_SHARE: "emotion share",
    charts.FRUSTRATION_EWMA: "mean frustration (EWMA)",
    charts.VOLUME: "volume",
}


def title(chart: str, key: str) -> str:
    """How the banner and the page name a chart: "fallback rate", "intent share 'order_status'"."""
    name = TITLES.get(chart, chart)
    return f"{name} {key!r}" if key else name


@dataclass(frozen=True)
class BannerAlert:
    title: str
    since: str


def banner_alerts(app: web.Application) -> list[BannerAlert]:
    """The alerts of the drift board, as base.html's banner shows them (oldest run first)."""
    board = app.get(drift.DRIFT_BOARD)
    if board is None:
        return []
    return [BannerAlert(title(a.chart, a.key), a.since.isoformat()) for a in board.alerts]


@dataclass(frozen=True)
class Shown:
    day: date
    title: str
    value: float
    center: float
    lower: float
    upper: float
    n: int
    status: str
    share: bool


def _shown(row: Any) -> Shown:
    share = row.chart in (charts.FALLBACK_RATE, charts.INTENT_SHARE, charts.EMOTION_SHARE)
    return Shown(
        row.day,
        title(row.chart, row.key),
        row.value,
        row.center,
        row.lower,
        row.upper,
        row.n,
        row.status,
        share,
    )


def read(engine: Engine) -> dict[str, Any]:
    """The latest checked day's points and the recent alerts."""
    with engine.connect() as connection:
        latest = connection.execute(select(func.max(DriftCheck.day))).scalar()
        if latest is None:
            return {"latest": None, "points": [], "history": []}
        points = connection.execute(
            select(DriftCheck).where(DriftCheck.day == latest).order_by(DriftCheck.chart, DriftCheck.key)
        ).all()
        history = connection.execute(
            select(DriftCheck)
            .where(DriftCheck.day > latest - timedelta(HISTORY_DAYS))
            .where(DriftCheck.status == charts.OUT_OF_CONTROL)
            .order_by(DriftCheck.day.desc(), DriftCheck.chart, DriftCheck.key)
        ).all()
    return {
        "latest": latest,
        "points": [_shown(row) for row in points],
        "history": [_shown(row) for row in history],
    }


async def page(request: web.Request) -> web.Response:
    """``GET /console/dashboard/drift``: the drift charts' latest points and recent alerts."""
    login = await require_session(request, access.SUPERVISOR_DASHBOARD)
    shown = await asyncio.to_thread(read, request.app[ENGINE])
    policy = request.app[drift.DRIFT_POLICY]
    return render(
        request,
        "drift.html",
        agent=login.agent,
        csrf_token=login.csrf_token,
        policy=policy,
        settings=policy.settings,
        alerts=banner_alerts(request.app),
        history_days=HISTORY_DAYS,
        **shown,
    )


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/console/dashboard/drift", page, name="dashboard.drift")
