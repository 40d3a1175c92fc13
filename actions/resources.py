"""Process-wide resources of the action server, created once, on first use.

rasa-sdk imports every module under ``actions/`` at start-up and builds each action with no
arguments, so nothing is opened at import time and the actions reach their resources through these
functions.  The server's entry point (actions/server.py) asks for the background senders and the
metrics when it starts, so they run from start-up rather than from the first customer message.
"""

import dataclasses
import functools
import logging
import threading
from datetime import date
from pathlib import Path

from prometheus_client import CollectorRegistry

from actions import metrics as metric_definitions
from actions import settings
from actions.audit_queue import AuditFlusher, AuditQueue
from actions.background import Repeating
from actions.callback_hours import CallbackHours, load_hours
from actions.clients.audit import AuditClient
from actions.clients.customers import CustomerClient
from actions.clients.handoff import HandoffClient
from actions.contact_history import ContactHistory
from actions.handoff_delivery import OutboxFlusher
from actions.metrics import ActionMetrics
from actions.outbox import Outbox
from actions.store.gateway import DemoStore, open_store
from bot.empathy.policy import EmpathyPolicy

_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _store(database_url: str) -> DemoStore:
    store = open_store(database_url)
    store.prepare(date.today())
    return store


def demo_store() -> DemoStore:
    """The demo store named by ATTUNE_STORE_DATABASE_URL, created and seeded on first use."""
    with _LOCK:
        return _store(settings.current().store_database_url)


@functools.lru_cache(maxsize=4)
def _policy(path: str) -> EmpathyPolicy:
    import yaml

    return EmpathyPolicy.from_mapping(yaml.safe_load(Path(path).read_text(encoding="utf-8")), source=path)


def empathy_policy() -> EmpathyPolicy:
    """The policy in ATTUNE_EMPATHY_POLICY (default data/empathy.yml), validated on first use."""
    with _LOCK:
        return _policy(settings.current().empathy_policy_file)


@functools.lru_cache(maxsize=4)
def _hours(path: str) -> CallbackHours:
    return load_hours(path)


def callback_hours() -> CallbackHours:
    """When call-backs may ring: ATTUNE_CALLBACK_HOURS (default data/callbacks.yml), checked on first use."""
    with _LOCK:
        return _hours(settings.current().callback_hours_file)


@functools.lru_cache(maxsize=1)
def _contacts(database_url: str) -> ContactHistory:
    return ContactHistory.open(database_url)


def contact_history() -> ContactHistory:
    """When and where each customer last talked to Attune (same database as the demo store)."""
    with _LOCK:
        return _contacts(settings.current().store_database_url)


@functools.lru_cache(maxsize=1)
def _outbox(database_url: str) -> Outbox:
    return Outbox.open(database_url)


def outbox() -> Outbox:
    """The durable handoff outbox (ATTUNE_OUTBOX_DATABASE_URL)."""
    with _LOCK:
        return _outbox(settings.current().outbox_database_url)


def customer_client() -> CustomerClient:
    current = settings.current()
    return CustomerClient(current.handoff_url, current.handoff_token)


def handoff_client() -> HandoffClient:
    current = settings.current()
    return HandoffClient(current.handoff_url, current.handoff_token)


@functools.lru_cache(maxsize=1)
def _flusher(database_url: str, handoff_url: str) -> OutboxFlusher:
    return OutboxFlusher(_outbox(database_url), handoff_client())


def outbox_flusher() -> OutboxFlusher:
    """The one background task per process that retries pending handoffs."""
    current = settings.current()
    with _LOCK:
        return _flusher(current.outbox_database_url, current.handoff_url)


@functools.lru_cache(maxsize=1)
def resume_pending_handoffs() -> None:
    """Starts retrying what the outbox holds, once per process (needs the running event loop).

    A fallback for a server started without actions/server.py, which starts it at start-up."""
    outbox_flusher().ensure_running()


@functools.lru_cache(maxsize=1)
def _audit_queue(database_url: str) -> AuditQueue:
    return AuditQueue.open(database_url)


def audit_queue() -> AuditQueue:
    """Audit entries not yet confirmed by the handoff service (a table in ATTUNE_OUTBOX_DATABASE_URL)."""
    with _LOCK:
        return _audit_queue(settings.current().outbox_database_url)


@functools.lru_cache(maxsize=1)
def _audit_flusher(database_url: str, handoff_url: str) -> AuditFlusher:
    current = settings.current()
    return AuditFlusher(_audit_queue(database_url), AuditClient(handoff_url, current.handoff_token))


def audit_flusher() -> AuditFlusher:
    """The one background task per process that sends queued audit entries."""
    current = settings.current()
    with _LOCK:
        return _audit_flusher(current.outbox_database_url, current.handoff_url)


@functools.lru_cache(maxsize=1)
def resume_audit_flusher() -> None:
    """Starts sending what the audit queue holds, once per process (needs the running event loop).

    A fallback for a server started without actions/server.py, which starts it at start-up."""
    audit_flusher().ensure_running()


def background_tasks() -> list[Repeating]:
    """What the action server repeats on its own timer: sending saved handoffs and audit entries."""
    return [outbox_flusher(), audit_flusher()]


def _queue_depths() -> dict[str, int]:
    return {"handoffs": outbox().pending_count(), "audit": audit_queue().pending_count()}


@functools.lru_cache(maxsize=1)
def _metrics(port: int | None) -> ActionMetrics:
    built = metric_definitions.create(CollectorRegistry(), _queue_depths)
    if port is None:
        return built
    return dataclasses.replace(built, server=metric_definitions.serve(built.registry, port))


def metrics() -> ActionMetrics:
    """This process's Prometheus metrics, served on 127.0.0.1:ATTUNE_ACTIONS_METRICS_PORT (when set)
    from start-up (actions/server.py; else from the first action); the outbox depth is read when scraped."""
    with _LOCK:
        return _metrics(settings.current().metrics_port)


@functools.lru_cache(maxsize=1)
def mask_logs() -> None:
    """Masks personal data in every line the action server logs (handoff.masking), once per process.

    SMS and WhatsApp conversation ids are phone numbers, and they appear in the actions' log lines.
    rasa-sdk sets up its log handlers before it loads the actions, so they exist by the first action.
    """
    from handoff.masking import MaskingFilter

    masking = MaskingFilter()
    for handler in logging.getLogger().handlers:
        handler.addFilter(masking)
