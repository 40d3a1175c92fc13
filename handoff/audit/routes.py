"""The audit log: entries from the action server in, the console's audit page out."""

from aiohttp import web

from handoff.audit import views


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/audit", views.append_entry, name="audit.append")
    app.router.add_get("/console/audit", views.audit_page, name="audit.page")
