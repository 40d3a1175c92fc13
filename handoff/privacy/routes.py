"""Customers: linked identities, consent to emotion processing (API and web chat), undoing a merge."""

from aiohttp import web

from handoff.privacy import views


def setup_routes(app: web.Application) -> None:
    router = app.router
    router.add_post("/api/v1/customers/resolve", views.resolve, name="customers.link_identities")
    router.add_post("/api/v1/customers/consent", views.set_consent, name="customers.set_consent")
    router.add_get("/api/v1/customers/{customer_id}/consent", views.consent_of, name="customers.consent")
    router.add_post("/api/v1/customers/merges/{merge_id}/undo", views.undo_merge, name="customers.undo_merge")
    router.add_get("/chat/consent", views.chat_consent, name="chat.consent")
    router.add_post("/chat/consent", views.chat_consent, name="chat.set_consent")
