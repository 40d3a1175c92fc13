"""The designer's playground: /console/playground, its JSON endpoints and its script."""

from pathlib import Path

from aiohttp import web

from handoff.core.app_keys import SETTINGS
from handoff.playground import views
from handoff.playground.app_keys import PLAYGROUND
from handoff.playground.service import Playground

STATIC = Path(__file__).resolve().parent / "static"
ROOT = Path(__file__).resolve().parents[2]  # the project: tests/test_*conversations.yml live there
# The dev files (../shared/data/README.md), beside the project; the page skips them when absent.
DEV_FILE = ROOT.parent / "shared" / "data" / "frustration_dialogues_twcs.dev.jsonl"


def setup_routes(app: web.Application) -> None:
    settings = app[SETTINGS]
    policy_file = Path(settings.empathy_policy_file)
    app[PLAYGROUND] = Playground(
        policy_file if policy_file.is_absolute() else ROOT / policy_file, ROOT, DEV_FILE
    )
    router = app.router
    router.add_get("/console/playground", views.page, name="playground.page")
    router.add_post("/console/playground/score", views.score, name="playground.score")
    router.add_post("/console/playground/samples", views.samples, name="playground.samples")
    router.add_post("/console/playground/save", views.save, name="playground.save")
    router.add_static("/console/playground/static", STATIC, name="playground.static")
