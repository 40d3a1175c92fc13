"""The workspace's app state: its policy, loaded and checked when the app is built (routes.setup_routes)."""

from aiohttp import web

from handoff.workspace.policy import WorkspacePolicy

POLICY = web.AppKey("workspace_policy", WorkspacePolicy)
