"""Customers: linked identities, consent to emotion processing (API and web chat), undoing a merge."""

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from handoff.core.app_keys import ENGINE
from handoff.privacy import consent_epoch, views


async def _warm(app: web.Application) -> AsyncIterator[None]:
    """One read before the first request: the ORM's mappers configured, a pooled connection and a
    worker thread ready, so the Rasa servers' first consent lookups do not pay for them (about
    40-120 ms measured cold, against a 1 s limit that a busy Rasa server already eats into).
    """
    await asyncio.to_thread(consent_epoch.read, app[ENGINE])
    yield


def setup_routes(app: web.Application) -> None:
    app.cleanup_ctx.append(_warm)  # after handoff.app's database context, which made the engine
    router = app.router
    router.add_post("/api/v1/customers/resolve", views.resolve, name="customers.link_identities")
    router.add_post("/api/v1/customers/consent", views.set_consent, name="customers.set_consent")
    router.add_get("/api/v1/customers/{customer_id}/consent", views.consent_of, name="customers.consent")
    router.add_post("/api/v1/customers/merges/{merge_id}/undo", views.undo_merge, name="customers.undo_merge")
    router.add_get("/chat/consent", views.chat_consent, name="chat.consent")
    router.add_post("/chat/consent", views.chat_consent, name="chat.set_consent")
