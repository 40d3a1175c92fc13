"""The agent workspace: canned responses, internal notes, transfers, presence and capacity.

Its policy (policy/workspace.yml) is read and checked here, when the app is built, so a mistake
stops the service before it serves.  The disposition on resolve and the panels of the handoff page
are the console's (handoff/console/views.py), using this package's service functions.
"""

from pathlib import Path

from aiohttp import web

from handoff.workspace import assignment_views, policy, views
from handoff.workspace.app_keys import POLICY


def setup_routes(app: web.Application, policy_file: str | Path | None = None) -> None:
    app[POLICY] = policy.load(policy_file)
    router = app.router
    router.add_get("/console/canned", views.canned_page, name="workspace.canned")
    router.add_post("/console/canned", views.create_canned, name="workspace.canned_create")
    router.add_get("/console/canned/search", views.search_canned, name="workspace.canned_search")
    router.add_post("/console/canned/{canned_id}", views.update_canned, name="workspace.canned_update")
    router.add_get("/console/handoffs/{handoff_id}/notes", views.list_notes, name="workspace.notes")
    router.add_post("/console/handoffs/{handoff_id}/notes", views.add_note, name="workspace.add_note")
    router.add_post("/console/handoffs/{handoff_id}/transfer", views.transfer, name="workspace.transfer")
    router.add_post("/console/handoffs/{handoff_id}/assign", assignment_views.assign, name="workspace.assign")
    router.add_get("/console/team", views.team_page, name="workspace.team")
    router.add_get("/console/team.json", views.team_json, name="workspace.team_json")
    router.add_post("/console/presence", views.set_presence, name="workspace.presence")
    router.add_post("/console/agents/{agent_id}/capacity", views.set_capacity, name="workspace.capacity")
