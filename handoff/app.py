"""The handoff service's app factory: settings in, a ready ``web.Application`` out."""

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import jinja2
from aiohttp import web
from prometheus_client import CollectorRegistry

from handoff import openapi
from handoff.analytics import consumer as analytics_consumer
from handoff.analytics import drift as drift_control
from handoff.analytics import idle_worker, pika_consumer, rollup_worker
from handoff.audit import routes as audit_routes
from handoff.callbacks import call_jobs, call_runner
from handoff.callbacks import routes as callback_routes
from handoff.console import login_forms
from handoff.console import routes as console_routes
from handoff.core import access, accounts, metrics
from handoff.core import routes as core_routes
from handoff.core.app_keys import (
    ACCESS,
    CALLS_WAKE,
    CHAT_LIMITER,
    ENGINE,
    LIVE,
    LIVE_CHAT_LIMITER,
    LOGIN_FORM_KEY,
    METRICS,
    OPENAPI,
    RASA,
    SETTINGS,
    TEMPLATES,
)
from handoff.core.db import create_engine_for
from handoff.core.live_hub import LiveHub
from handoff.core.middleware import error_middleware, metrics_middleware, security_headers
from handoff.core.migrate import upgrade_to_head
from handoff.core.rasa_client import RasaClient
from handoff.core.rate_limit import RateLimiter
from handoff.core.settings import Settings
from handoff.dashboard import drift_view
from handoff.dashboard import routes as dashboard_routes
from handoff.history import routes as history_routes
from handoff.playground import routes as playground_routes
from handoff.privacy import purge_worker
from handoff.privacy import routes as privacy_routes
from handoff.privacy import views as privacy_views
from handoff.queue import live_events, wait_watcher, webhooks
from handoff.queue import routes as queue_routes
from handoff.queue.handoffs import queue_depth
from handoff.workspace import routes as workspace_routes

# The web chat's live endpoints: a typing hint every few seconds while typing, and the stream's reconnects.
LIVE_CHAT_PER_MINUTE, LIVE_CHAT_BURST = 60, 20


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
                wait_watcher.run_watcher(app[ENGINE], app[RASA], timedelta(seconds=settings.max_wait_seconds))
            ),
            asyncio.create_task(
                call_runner.run_worker(
                    app[ENGINE],
                    app[RASA],
                    call_jobs.account_from(settings),
                    call_jobs.policy_from(settings),
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


async def _live(app: web.Application) -> AsyncIterator[None]:
    """The live console's queue watcher (handoff/queue/live_events.py): it polls while a console listens."""
    task = asyncio.create_task(live_events.run_watcher(live_events.QueueWatcher(app[ENGINE], app[LIVE])))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _end_streams(app: web.Application) -> None:
    # Open event streams would hold the shutdown for its whole timeout; browsers reconnect elsewhere.
    app[LIVE].close()


async def _retention(app: web.Application) -> AsyncIterator[None]:
    """Applies the retention periods at start-up and then every ATTUNE_PURGE_INTERVAL_SECONDS."""
    settings = app[SETTINGS]
    task = asyncio.create_task(purge_worker.run_purges(app[ENGINE], settings))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(settings: Settings) -> web.Application:
    # Bodies are capped before they are read (a 413 in the error shape); handoff/openapi.py says so.
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
    # The web chat's switch is open to browsers: rate-limited per address (handoff/core/rate_limit.py).
    app[CHAT_LIMITER] = RateLimiter(
        per_minute=privacy_views.CHAT_PER_MINUTE, burst=privacy_views.CHAT_PER_MINUTE
    )
    app[OPENAPI] = openapi.document()
    app[LIVE] = LiveHub()
    app[LIVE_CHAT_LIMITER] = RateLimiter(per_minute=LIVE_CHAT_PER_MINUTE, burst=LIVE_CHAT_BURST)
    app.on_shutdown.append(_end_streams)  # type: ignore[arg-type]  # aiosignal's false alarm, as above
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_webhook_worker)
    app.cleanup_ctx.append(_rasa)
    app.cleanup_ctx.append(_demo_accounts)
    app.cleanup_ctx.append(_retention)
    app.cleanup_ctx.append(_live)
    # Rasa's event broker into the analytics tables (handoff/analytics/); off without a broker URL.
    analytics_consumer.setup(app)
    # Or from RabbitMQ, when Rasa publishes through its Pika broker (ATTUNE_RABBITMQ_URL).
    pika_consumer.setup(app)
    # Drift control (policy/drift.yml): checks each completed day, keeps the console's banner current.
    drift_control.setup(app)
    # The idle CSAT trigger (needs the Rasa client and the broker's candidates); ATTUNE_CSAT_IDLE=0 stops it.
    idle_worker.setup(app)
    # Today's and yesterday's dashboard roll-ups, off the page; ATTUNE_ANALYTICS_ROLLUP_SECONDS=0 stops it.
    rollup_worker.setup(app)
    app[TEMPLATES] = _templates(app)
    # Each feature registers its own named routes; pages and views build URLs from the names.
    for setup_routes in (
        core_routes.setup_routes,
        openapi.setup_routes,
        queue_routes.setup_routes,
        console_routes.setup_routes,
        callback_routes.setup_routes,
        privacy_routes.setup_routes,
        audit_routes.setup_routes,
        workspace_routes.setup_routes,
        history_routes.setup_routes,
        playground_routes.setup_routes,
        dashboard_routes.setup_routes,
        drift_view.setup_routes,
    ):
        setup_routes(app)
    return app


def _templates(app: web.Application) -> jinja2.Environment:
    environment = jinja2.Environment(
        # The console's templates, and the playground's and dashboard's own (they extend base.html).
        loader=jinja2.ChoiceLoader(
            [
                jinja2.PackageLoader("handoff.console", "templates"),
                jinja2.PackageLoader("handoff.playground", "templates"),
                jinja2.PackageLoader("handoff.dashboard", "templates"),
            ]
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.globals["url"] = functools.partial(url_for, app)
    # The drift banner of base.html (supervisors and admins): the alerts the drift worker keeps.
    environment.globals["drift_alerts"] = functools.partial(drift_view.banner_alerts, app)
    return environment


def url_for(app: web.Application, name: str, **parts: object) -> str:
    """The path of the route called ``name``, its ``{parts}`` filled in and percent-encoded."""
    route = app.router[name]
    if "filename" in parts:  # a static file
        return str(route.url_for(filename=str(parts["filename"])))
    return str(route.url_for(**{key: str(value) for key, value in parts.items()}))
