"""The handoff API the action server posts to, and its call-back requests."""

from aiohttp import web

from handoff.queue import csat_views, views


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/handoffs", views.create_handoff, name="handoffs.create")
    app.router.add_get("/api/v1/handoffs", views.list_handoffs, name="handoffs.list")
    app.router.add_get("/api/v1/handoffs/{handoff_id}", views.get_handoff, name="handoffs.get")
    app.router.add_post(
        "/api/v1/handoffs/{handoff_id}/callbacks", views.request_callback, name="handoffs.request_callback"
    )
    app.router.add_post("/api/v1/csat", csat_views.store_answer, name="csat.store")
