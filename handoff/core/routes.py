"""The service's own routes: health and metrics."""

from aiohttp import web

from handoff.core import health_views, metrics_views


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", health_views.healthz, name="core.healthz")
    app.router.add_get("/metrics", metrics_views.metrics, name="core.metrics")
