"""The action server's resources as the actions reach them: thin accessors onto the composition root.

rasa-sdk builds each action with no arguments, so an action takes these functions as its default
dependencies (``ActionHandoff(outbox=resources.outbox, ...)``) and a test passes its own.  Each
accessor reads the process's container (actions/bootstrap.py), where every resource is built once,
on first use; nothing is opened at import time.
"""

from actions.audit_queue import AuditQueue
from actions.background import Repeating
from actions.bootstrap import services
from actions.callback_hours import CallbackHours
from actions.clients.customers import CustomerClient
from actions.clients.handoff import HandoffClient
from actions.contact_history import ContactHistory
from actions.csat_ledger import CsatLedger
from actions.csat_policy import CsatPolicy
from actions.csat_queue import CsatQueue
from actions.metrics import ActionServerMetrics
from actions.outbox import Outbox
from actions.queue_flusher import QueueFlusher
from actions.shadow_mode import ShadowMode
from actions.store.gateway import DemoStore
from bot.empathy.experiments import Experiment
from bot.empathy.policy import EmpathyPolicy


def demo_store() -> DemoStore:
    """The demo store named by ATTUNE_STORE_DATABASE_URL, created and seeded on first use."""
    return services().demo_store()


def empathy_policy() -> EmpathyPolicy:
    """The policy in ATTUNE_EMPATHY_POLICY, validated on first use."""
    return services().empathy_policy()


def callback_hours() -> CallbackHours:
    """When call-backs may ring: ATTUNE_CALLBACK_HOURS, checked on first use."""
    return services().callback_hours()


def contact_history() -> ContactHistory:
    """When and where each customer last talked to Attune (same database as the demo store)."""
    return services().contact_history()


def csat_policy() -> CsatPolicy:
    """When the CSAT question is asked (ATTUNE_CSAT_POLICY), checked on first use."""
    return services().csat_policy()


def experiments() -> tuple[Experiment, ...]:
    """The tone experiments in ATTUNE_EXPERIMENTS, checked on first use."""
    return services().experiments()


def shadow() -> ShadowMode | None:
    """Shadow mode (ATTUNE_SHADOW): None when it is off (docs/shadow.md)."""
    return services().shadow()


def csat_ledger() -> CsatLedger:
    """When each customer was last asked the CSAT question."""
    return services().csat_ledger()


def csat_queue() -> CsatQueue:
    """CSAT answers on their way to the handoff service."""
    return services().csat_queue()


def outbox() -> Outbox:
    """The durable handoff outbox (ATTUNE_OUTBOX_DATABASE_URL)."""
    return services().outbox()


def customer_client() -> CustomerClient:
    return services().customer_client()


def handoff_client() -> HandoffClient:
    return services().handoff_client()


def outbox_flusher() -> QueueFlusher:
    """The one background task per process that retries pending handoffs."""
    return services().outbox_flusher()


def resume_pending_handoffs() -> None:
    """Makes sure the outbox flusher runs in this event loop (a fallback for a server started
    without actions/server.py, which starts it at start-up; idempotent, so cheap to call each turn).
    """
    outbox_flusher().ensure_running()


def audit_queue() -> AuditQueue:
    """Audit entries not yet confirmed by the handoff service (a table in ATTUNE_OUTBOX_DATABASE_URL)."""
    return services().audit_queue()


def audit_flusher() -> QueueFlusher:
    """The one background task per process that sends queued audit entries."""
    return services().audit_flusher()


def resume_audit_flusher() -> None:
    """Makes sure the audit flusher runs in this event loop (the same fallback as for handoffs)."""
    audit_flusher().ensure_running()


def background_tasks() -> list[Repeating]:
    """What the action server repeats on its own timer: sending saved handoffs and audit entries."""
    return services().background_tasks()


def metrics() -> ActionServerMetrics:
    """This process's Prometheus metrics (served from start-up by actions/server.py, else from the
    first action); the queue depths are read when scraped.
    """
    return services().metrics()


def mask_logs() -> None:
    """Masks personal data in every line the action server logs, once per process."""
    services().mask_logs()
