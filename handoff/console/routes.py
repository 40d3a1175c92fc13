"""The agent console (pages, login, live updates, emotion flags) and the web chat page it serves."""

from pathlib import Path

from aiohttp import web

from handoff.console import live_views, login_views, views

STATIC = Path(__file__).resolve().parent / "static"


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/console", views.queue, name="console.queue")
    router.add_get("/console/login", login_views.login_page, name="console.login_page")
    router.add_post("/console/login", login_views.login, name="console.login")
    router.add_post("/console/logout", login_views.logout, name="console.logout")
    router.add_get("/console/handoffs/{handoff_id}", views.handoff_page, name="console.handoff")
    router.add_get("/console/handoffs/{handoff_id}/messages", views.messages, name="console.messages")
    router.add_get("/console/handoffs/{handoff_id}/calls", views.calls, name="console.calls")
    router.add_post("/console/handoffs/{handoff_id}/claim", views.claim, name="console.claim")
    router.add_post("/console/handoffs/{handoff_id}/reply", views.reply, name="console.reply")
    router.add_post("/console/handoffs/{handoff_id}/resolve", views.resolve, name="console.resolve")
    router.add_post("/console/handoffs/{handoff_id}/flags", views.flag_reading, name="console.flag_reading")
    router.add_get("/console/flags", views.flags_page, name="console.flags")
    router.add_post("/console/flags/{flag_id}", views.review_flag, name="console.review_flag")
    router.add_static("/console/static", STATIC, name="console.static")
    router.add_get("/chat", views.chat_page, name="chat.page")
    # Live updates (Server-Sent Events), the reply box's fetch and the typing indicators.
    router.add_get("/console/events", live_views.queue_events, name="console.events")
    router.add_get(
        "/console/handoffs/{handoff_id}/events", live_views.handoff_events, name="console.handoff_events"
    )
    router.add_post("/console/handoffs/{handoff_id}/messages", live_views.send_reply, name="console.send")
    router.add_post("/console/handoffs/{handoff_id}/typing", live_views.agent_typing, name="console.typing")
    router.add_get("/chat/events", live_views.chat_events, name="chat.events")
    router.add_post("/chat/typing", live_views.customer_typing, name="chat.typing")
