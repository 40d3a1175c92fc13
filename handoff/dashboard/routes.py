"""The supervisor dashboard: /console/dashboard, a CSV per metric, the experiments' reports, stylesheets."""

import asyncio
from pathlib import Path

from aiohttp import web

from handoff.dashboard import experiments_views, views
from handoff.dashboard.app_keys import REFRESH_LOCK

STATIC = Path(__file__).resolve().parent / "static"


def setup_routes(app: web.Application) -> None:
    app[REFRESH_LOCK] = asyncio.Lock()
    router = app.router
    router.add_get("/console/dashboard", views.page, name="dashboard.page")
    router.add_get("/console/dashboard/{metric}.csv", views.export, name="dashboard.csv")
    # The tone experiments' reports (experiments_views.py): ``{experiment}`` may end in ``.json``.
    router.add_get("/console/experiments", experiments_views.index, name="experiments.index")
    router.add_get("/console/experiments/{experiment}", experiments_views.report, name="experiments.report")
    router.add_static("/console/dashboard/static", STATIC, name="dashboard.static")
