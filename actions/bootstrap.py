"""The action server's composition root: every process-wide resource, built in one place.

rasa-sdk imports every module under ``actions/`` at start-up and builds each action with no
arguments, so the actions cannot be handed their resources: they reach them through the thin
accessors of actions/resources.py, which read the process's ``Services``.  Nothing is opened at
import time, nor when the container is built: each resource is built on first use (a database that
is still starting up must not stop the server from answering /health) and then kept for the
process.  The server's entry point (actions/server.py) asks for the background senders and the
metrics when it starts, so they run from start-up rather than from the first customer message.

Tests build the container with fakes, ``bootstrap(outbox=..., handoff_client=...)``, or call
``reset()`` so that the next use builds a fresh one from the environment they set.
"""

import dataclasses
import threading
from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from actions import metrics as metric_definitions
from actions import settings as settings_module
from actions import shadow_mode
from actions.audit_queue import AuditQueue, audit_flusher
from actions.background import Repeating
from actions.callback_hours import CallbackHours, load_hours
from actions.clients.audit import AuditClient
from actions.clients.csat import CsatClient
from actions.clients.customers import CustomerClient
from actions.clients.handoff import HandoffClient
from actions.clients.http import ServiceMisconfigured
from actions.contact_history import ContactHistory
from actions.csat_ledger import CsatLedger
from actions.csat_policy import CsatPolicy
from actions.csat_policy import load as load_csat_policy
from actions.csat_queue import CsatQueue, csat_flusher
from actions.experiment_arm import ExperimentsFile
from actions.handoff_delivery import outbox_flusher
from actions.metrics import ActionServerMetrics
from actions.outbox import Outbox
from actions.policy_reload import FileWatch, PolicyFile
from actions.queue_flusher import QueueFlusher
from actions.settings import ActionServerSettings
from actions.store.gateway import DemoStore, open_store
from bot.empathy.experiments import Experiment
from bot.empathy.policy import EmpathyPolicy
from handoff.shared.masking import mask_root_log_handlers

T = TypeVar("T")

# What a test may hand in instead of the real thing (``bootstrap(name=...)``).
OVERRIDABLE = frozenset(
    {
        "demo_store",
        "empathy_policy",
        "callback_hours",
        "contact_history",
        "outbox",
        "audit_queue",
        "handoff_client",
        "audit_client",
        "customer_client",
        "outbox_flusher",
        "audit_flusher",
        "metrics",
        "csat_policy",
        "csat_ledger",
        "csat_queue",
        "csat_client",
        "csat_flusher",
        "experiments",
        "shadow",
    }
)


class Services:
    """The resources of one action server process, each built on first use from ``settings``."""

    def __init__(self, settings: ActionServerSettings, overrides: dict[str, Any] | None = None) -> None:
        unknown = set(overrides or {}) - OVERRIDABLE
        if unknown:
            raise TypeError(f"bootstrap() got unknown dependencies: {', '.join(sorted(unknown))}")
        self.settings = settings
        self._built: dict[str, Any] = dict(overrides or {})
        # Re-entrant: building the flusher builds the outbox it sends from.
        self._lock = threading.RLock()

    def _once(self, name: str, build: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._built:
                self._built[name] = build()
            built: T = self._built[name]
            return built

    def demo_store(self) -> DemoStore:
        """The demo store named by ATTUNE_STORE_DATABASE_URL, created and seeded on first use."""
        return self._once("demo_store", self._open_store)

    def empathy_policy(self) -> EmpathyPolicy:
        """The policy in ATTUNE_EMPATHY_POLICY, validated on first use and re-read when the file changes
        (actions/policy_reload.py); a test's override is used as it is.
        """
        source = self._once("empathy_policy", self._policy_file)
        return source if isinstance(source, EmpathyPolicy) else source.current()

    def callback_hours(self) -> CallbackHours:
        """When call-backs may ring: ATTUNE_CALLBACK_HOURS, checked on first use."""
        return self._once("callback_hours", lambda: load_hours(self.settings.callback_hours_file))

    def contact_history(self) -> ContactHistory:
        """When and where each customer last talked to Attune (same database as the demo store)."""
        return self._once("contact_history", lambda: ContactHistory.open(self.settings.store_database_url))

    def outbox(self) -> Outbox:
        """The durable handoff outbox (ATTUNE_OUTBOX_DATABASE_URL)."""
        return self._once("outbox", lambda: Outbox.open(self.settings.outbox_database_url))

    def audit_queue(self) -> AuditQueue:
        """Audit entries not yet confirmed by the handoff service (a table in ATTUNE_OUTBOX_DATABASE_URL)."""
        return self._once("audit_queue", lambda: AuditQueue.open(self.settings.outbox_database_url))

    def handoff_client(self) -> HandoffClient:
        return self._once(
            "handoff_client",
            lambda: HandoffClient(
                self.settings.handoff_url, self.settings.handoff_token, report=self._report
            ),
        )

    def audit_client(self) -> AuditClient:
        return self._once(
            "audit_client",
            lambda: AuditClient(self.settings.handoff_url, self.settings.handoff_token, report=self._report),
        )

    def customer_client(self) -> CustomerClient:
        return self._once(
            "customer_client",
            lambda: CustomerClient(
                self.settings.handoff_url, self.settings.handoff_token, report=self._report
            ),
        )

    def csat_policy(self) -> CsatPolicy:
        """When the CSAT question is asked: ATTUNE_CSAT_POLICY, checked on first use."""
        return self._once("csat_policy", lambda: load_csat_policy(self.settings.csat_policy_file))

    def experiments(self) -> tuple[Experiment, ...]:
        """The tone experiments: ATTUNE_EXPERIMENTS, checked on first use and re-read when the file
        changes (actions/experiment_arm.py); a test's override is used as it is.
        """
        source = self._once("experiments", lambda: ExperimentsFile(FileWatch(self.settings.experiments_file)))
        return source if isinstance(source, tuple) else source.current()

    def shadow(self) -> shadow_mode.ShadowMode | None:
        """Shadow mode (ATTUNE_SHADOW, docs/shadow.md): None when off or unusable (logged); read once."""
        return self._once(
            "shadow", lambda: shadow_mode.load(self.settings.shadow_file, self.settings.store_database_url)
        )

    def csat_ledger(self) -> CsatLedger:
        """When each customer was last asked the CSAT question (same database as the demo store)."""
        return self._once("csat_ledger", lambda: CsatLedger.open(self.settings.store_database_url))

    def csat_queue(self) -> CsatQueue:
        """CSAT answers not yet confirmed by the handoff service (a table in ATTUNE_OUTBOX_DATABASE_URL)."""
        return self._once("csat_queue", lambda: CsatQueue.open(self.settings.outbox_database_url))

    def csat_client(self) -> CsatClient:
        return self._once(
            "csat_client",
            lambda: CsatClient(self.settings.handoff_url, self.settings.handoff_token, report=self._report),
        )

    def csat_flusher(self) -> QueueFlusher:
        """The one background task per process that sends queued CSAT answers."""
        return self._once("csat_flusher", lambda: csat_flusher(self.csat_queue(), self.csat_client()))

    def outbox_flusher(self) -> QueueFlusher:
        """The one background task per process that retries pending handoffs."""
        return self._once("outbox_flusher", lambda: outbox_flusher(self.outbox(), self.handoff_client()))

    def audit_flusher(self) -> QueueFlusher:
        """The one background task per process that sends queued audit entries."""
        return self._once("audit_flusher", lambda: audit_flusher(self.audit_queue(), self.audit_client()))

    def background_tasks(self) -> list[Repeating]:
        """What the action server repeats on its own timer: sending saved handoffs and audit entries."""
        return [
            self.outbox_flusher(),
            self.audit_flusher(),
            self.csat_flusher(),
            *shadow_mode.writers(self.shadow()),
        ]

    def metrics(self) -> ActionServerMetrics:
        """This process's Prometheus metrics, served on 127.0.0.1:ATTUNE_ACTIONS_METRICS_PORT (when set);
        the queue depths are read when scraped.
        """
        return self._once("metrics", self._create_metrics)

    def mask_logs(self) -> None:
        """Masks personal data in every line the action server logs (handoff.shared.masking), once.

        SMS and WhatsApp conversation ids are phone numbers, and they appear in the actions' log lines.
        rasa-sdk sets up its log handlers before it loads the actions, so they exist by the first action.
        """
        self._once("mask_logs", _install_log_masking)

    def _open_store(self) -> DemoStore:
        store = open_store(self.settings.store_database_url)
        store.prepare(date.today())
        return store

    def _policy_file(self) -> PolicyFile | EmpathyPolicy:
        return PolicyFile(self.settings.empathy_policy_file)

    def _create_metrics(self) -> ActionServerMetrics:
        built = metric_definitions.create(CollectorRegistry(), self._queue_depths)
        port = self.settings.metrics_port
        if port is None:
            return built
        return dataclasses.replace(built, server=metric_definitions.serve(built.registry, port))

    def _queue_depths(self) -> dict[str, int]:
        return {"handoffs": self.outbox().pending_count(), "audit": self.audit_queue().pending_count()}

    def _report(self, error: ServiceMisconfigured) -> None:
        metric_definitions.record(self.metrics, lambda m: m.service_misconfigured(error.api, error.status))


def _install_log_masking() -> bool:
    mask_root_log_handlers()
    return True


_LOCK = threading.Lock()
# The process's container: rasa-sdk builds the actions with no arguments, so they find it here.
_current: Services | None = None


def bootstrap(settings: ActionServerSettings | None = None, **overrides: Any) -> Services:
    """Builds the container (settings from the environment unless given) and makes it the process's.

    A malformed setting raises ``settings.ConfigError`` naming the variable.
    """
    global _current
    built = Services(settings if settings is not None else settings_module.current(), overrides)
    with _LOCK:
        _current = built
    return built


def services() -> Services:
    """The process's container, bootstrapped from the environment on first use."""
    global _current
    with _LOCK:
        if _current is None:
            _current = Services(settings_module.current())
        return _current


def reset() -> None:
    """Forgets the container (tests): the next use builds a fresh one. Nothing running is stopped."""
    global _current
    with _LOCK:
        _current = None
