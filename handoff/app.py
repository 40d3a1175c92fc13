"""The handoff service's app factory: settings in, a ready ``web.Application`` out."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import jinja2
from aiohttp import web
from prometheus_client import CollectorRegistry

from handoff import (
    access,
    accounts,
    call_runner,
    callbacks,
    login_forms,
    metrics,
    privacy_worker,
    waits,
    webhooks,
)
from handoff.db import create_engine_for
from handoff.handoffs import queue_depth
from handoff.keys import (
    ACCESS,
    CALLS_WAKE,
    CHAT_LIMITER,
    ENGINE,
    LOGIN_FORM_KEY,
    METRICS,
    OPENAPI,
    RASA,
    SETTINGS,
    TEMPLATES,
)
from handoff.middleware import error_middleware, metrics_middleware, security_headers
from handoff.migrate import upgrade_to_head
from handoff.rasa_client import RasaClient
from handoff.rate_limit import RateLimiter
from handoff.settings import Settings
from handoff.views import audit as audit_views
from handoff.views import console, customers, handoffs, health, login, openapi, twilio_hooks
from handoff.views import metrics as metrics_views

STATIC = Path(__file__).resolve().parent / "static"


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    # Migrating at start-up means a fresh SQLite file (or an empty Postgres) needs no manual step.
    await asyncio.to_thread(upgrade_to_head, settings.database_url)
    app[ENGINE] = create_engine_for(settings.database_url)
    yield
    app[ENGINE].dispose()


async def _rasa(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with aiohttp.ClientSession() as session:
        app[RASA] = RasaClient(session, settings.rasa_url, settings.rasa_token)
        workers = [
            asyncio.create_task(
                waits.run_watcher(app[ENGINE], app[RASA], timedelta(seconds=settings.max_wait_seconds))
            ),
            asyncio.create_task(
                call_runner.run_worker(
                    app[ENGINE],
                    app[RASA],
                    callbacks.account_from(settings),
                    callbacks.policy_from(settings),
                    app[CALLS_WAKE],
                    on_outcome=app[METRICS].callback_outcome,
                )
            ),
        ]
        yield
        for worker in workers:
            worker.cancel()
        for worker in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await worker


async def _demo_accounts(app: web.Application) -> AsyncIterator[None]:
    created = await asyncio.to_thread(accounts.ensure_demo_accounts, app[ENGINE], app[SETTINGS].demo_password)
    for username, password, role in created:
        # Printed once, on the run that creates them: the passwords are not stored anywhere in clear.
        print(f"console account created: {username} / {password} ({role})", flush=True)
    yield


async def _webhook_worker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    task = None
    if settings.webhook_urls and settings.webhook_secret:
        task = asyncio.create_task(
            webhooks.run_worker(
                app[ENGINE],
                settings.webhook_secret,
                settings.webhook_max_attempts,
                settings.webhook_poll_seconds,
                unmasked=settings.webhook_unmasked,
            )
        )
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _retention(app: web.Application) -> AsyncIterator[None]:
    """Applies the retention periods at start-up and then every ATTUNE_PURGE_INTERVAL_SECONDS."""
    settings = app[SETTINGS]
    task = asyncio.create_task(privacy_worker.run_purges(app[ENGINE], settings))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: Settings) -> web.Application:
    # Bodies are capped before they are read (a 413 in the error shape); handoff/views/openapi.py says so.
    app = web.Application(
        middlewares=[metrics_middleware, error_middleware], client_max_size=openapi.MAX_BODY_BYTES
    )
    app[SETTINGS] = settings
    # nosniff, Referrer-Policy, CSP, no framing (and HSTS over https) on every response.
    # (aiohttp 3.9 types this signal for aiosignal < 1.4, which changed its parameters: a false alarm.)
    app.on_response_prepare.append(security_headers(settings.https))  # type: ignore[arg-type]
    app[LOGIN_FORM_KEY] = login_forms.form_key(settings.session_key)
    # Its own registry, not prometheus_client's global one: each app (and test) counts for itself.
    app[METRICS] = metrics.create(CollectorRegistry(), lambda: queue_depth(app[ENGINE]))
    # Read and checked here, so a mistake in the access policy stops the service before it serves.
    app[ACCESS] = access.load(settings.access_policy_file)
    app[CALLS_WAKE] = asyncio.Event()
    # The web chat's switch is open to browsers: rate-limited per address (handoff/rate_limit.py).
    app[CHAT_LIMITER] = RateLimiter(per_minute=customers.CHAT_PER_MINUTE, burst=customers.CHAT_PER_MINUTE)
    app[OPENAPI] = openapi.document()
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_webhook_worker)
    app.cleanup_ctx.append(_rasa)
    app.cleanup_ctx.append(_demo_accounts)
    app.cleanup_ctx.append(_retention)
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.PackageLoader("handoff", "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    app.router.add_get("/console", console.queue)
    app.router.add_get("/console/login", login.login_page)
    app.router.add_post("/console/login", login.login)
    app.router.add_post("/console/logout", login.logout)
    app.router.add_get("/console/handoffs/{handoff_id}", console.handoff_page)
    app.router.add_get("/console/handoffs/{handoff_id}/messages", console.messages)
    app.router.add_get("/console/handoffs/{handoff_id}/calls", console.calls)
    app.router.add_post("/console/handoffs/{handoff_id}/claim", console.claim)
    app.router.add_post("/console/handoffs/{handoff_id}/reply", console.reply)
    app.router.add_post("/console/handoffs/{handoff_id}/resolve", console.resolve)
    app.router.add_static("/console/static", STATIC)
    app.router.add_get("/chat", console.chat_page)
    app.router.add_post("/console/handoffs/{handoff_id}/flags", console.flag_reading)
    app.router.add_get("/console/flags", console.flags_page)
    app.router.add_get("/console/audit", audit_views.audit_page)
    app.router.add_post("/console/flags/{flag_id}", console.review_flag)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/metrics", metrics_views.metrics)
    app.router.add_get(openapi.PATH, openapi.openapi_json)
    app.router.add_post("/twilio/twiml/{job_id}", twilio_hooks.twiml)
    app.router.add_post("/twilio/status/{job_id}", twilio_hooks.status)
    app.router.add_post("/api/v1/audit", audit_views.append_entry)
    app.router.add_post("/api/v1/handoffs", handoffs.create_handoff)
    app.router.add_get("/api/v1/handoffs", handoffs.list_handoffs)
    app.router.add_get("/api/v1/handoffs/{handoff_id}", handoffs.get_handoff)
    app.router.add_post("/api/v1/handoffs/{handoff_id}/callbacks", handoffs.request_callback)
    app.router.add_post("/api/v1/customers/resolve", customers.resolve)
    app.router.add_post("/api/v1/customers/consent", customers.set_consent)
    app.router.add_get("/api/v1/customers/{customer_id}/consent", customers.consent_of)
    app.router.add_post("/api/v1/customers/merges/{merge_id}/undo", customers.undo_merge)
    app.router.add_get("/chat/consent", customers.chat_consent)
    app.router.add_post("/chat/consent", customers.chat_consent)
    return app
