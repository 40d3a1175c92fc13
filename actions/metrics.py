"""The action server's Prometheus metrics: per-message latency of the empathy tracking, tone changes,
escalation decisions, handoffs sent, and what still waits in the outbox and the audit queue.

rasa-sdk runs a Sanic app of its own and offers no hook for another route, so ``serve`` starts
prometheus_client's own HTTP server on 127.0.0.1; the composition root (actions/bootstrap.py) builds
one ``ActionServerMetrics`` per process and serves it on ATTUNE_ACTIONS_METRICS_PORT.  Each
``ActionServerMetrics`` has its own registry (not prometheus_client's global one), so tests build theirs.

Labels only ever hold values from small fixed sets (tones, decisions, reasons, delivery statuses):
never a conversation id, phone number or customer, and anything unexpected becomes "other".
"""

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from actions.handoff_delivery import STATUSES
from bot.constants import SLOT_EMPATHY_EXPLANATION, SLOT_ESCALATION, SLOT_TONE
from bot.empathy.escalation import DECISIONS
from bot.empathy.tone import NEUTRAL, TONES
from handoff.shared.payload_contract import REASONS

logger = logging.getLogger(__name__)

OTHER = "other"
# How a run of action_track_empathy ended: a scored turn, an opted-out customer's turn (no scores),
# nothing to do (no new message: Rasa re-runs slot extraction when a form starts), or an error.
TURN_OUTCOMES = ("scored", "opted_out", "unchanged", "error")
DELIVERY_STATUSES = STATUSES  # delivered, queued (in the outbox), rejected, failed (not even saved)
SENT_KINDS = ("handoff", "callback")
# The handoff service's APIs the action server calls, and the answers that mean "misconfigured"
# (actions/clients/http.py).
APIS = ("handoffs", "audit", "customers")
MISCONFIGURED_STATUSES = ("401", "403", "404", "405")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def bounded(value: object, allowed: Iterable[str]) -> str:
    text = str(value)
    return text if text in allowed else OTHER


class QueueDepths(Collector):
    """``attune_outbox_depth``: handoffs and audit entries the handoff service has not confirmed yet,
    read from the outbox database when scraped.
    """

    NAME = "attune_outbox_depth"
    HELP = "Items waiting on disk for the handoff service to confirm them, by queue (handoffs, audit)."

    def __init__(self, depths: Callable[[], Mapping[str, int]]) -> None:
        self._depths = depths

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.NAME, self.HELP, labels=["queue"])]

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(self.NAME, self.HELP, labels=["queue"])
        try:
            depths = self._depths()
        except Exception as error:
            logger.warning("could not read the outbox depth: %s", error)
            depths = {}
        for queue, depth in depths.items():
            gauge.add_metric([queue], float(depth))
        return [gauge]


@dataclass(frozen=True)
class ActionServerMetrics:
    registry: CollectorRegistry
    turn_seconds: Histogram
    tone_changes: Counter
    decisions: Counter
    handoffs_sent: Counter
    misconfigured: Counter
    # The HTTP server ``serve`` started for this registry, if any (tests shut it down).
    server: Any = None

    def turn(self, seconds: float, previous_tone: object, events: list[dict[str, Any]]) -> None:
        """One run of action_track_empathy, from the slots it set (an empty list: nothing to do)."""
        slots = {e.get("name"): e.get("value") for e in events if e.get("event") == "slot"}
        explanation = slots.get(SLOT_EMPATHY_EXPLANATION)
        if not slots:
            outcome = "unchanged"
        elif isinstance(explanation, dict) and explanation.get("opted_out"):
            outcome = "opted_out"
        else:
            outcome = "scored"
        self.turn_seconds.labels(outcome).observe(seconds)
        if SLOT_TONE in slots:
            before, after = bounded(previous_tone or NEUTRAL, TONES), bounded(slots[SLOT_TONE], TONES)
            if before != after:
                self.tone_changes.labels(before, after).inc()
        if SLOT_ESCALATION in slots:
            self.decisions.labels(bounded(slots[SLOT_ESCALATION], DECISIONS)).inc()

    def turn_failed(self, seconds: float) -> None:
        self.turn_seconds.labels("error").observe(seconds)

    def handoff_sent(self, kind: str, reason: object, status: str) -> None:
        """A handoff (or a call-back's handoff) left an action: delivered, queued in the outbox, rejected."""
        self.handoffs_sent.labels(
            bounded(kind, SENT_KINDS), bounded(reason, REASONS), bounded(status, DELIVERY_STATUSES)
        ).inc()

    def service_misconfigured(self, api: str, status: int) -> None:
        """The handoff service refused the action server itself, or has no such route (retried)."""
        self.misconfigured.labels(bounded(api, APIS), bounded(status, MISCONFIGURED_STATUSES)).inc()


def create(
    registry: CollectorRegistry, depths: Callable[[], Mapping[str, int]] | None = None
) -> ActionServerMetrics:
    if depths is not None:
        registry.register(QueueDepths(depths))
    return ActionServerMetrics(
        registry=registry,
        turn_seconds=Histogram(
            "attune_empathy_turn_seconds",
            "Time action_track_empathy takes per customer message (scoring, tone, decision, audit), "
            "by outcome: scored, opted_out, unchanged, error.",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        tone_changes=Counter(
            "attune_tone_changes",
            "Changes of the reply tone, from one tone to another.",
            ["from_tone", "to_tone"],
            registry=registry,
        ),
        decisions=Counter(
            "attune_escalation_decisions",
            "The escalation decision of each scored turn: none, offer_human, offer_callback, handoff.",
            ["decision"],
            registry=registry,
        ),
        handoffs_sent=Counter(
            "attune_handoffs_sent",
            "Handoffs sent by action_handoff (kind handoff) and action_request_callback (kind callback), "
            "by reason and delivery status (queued: kept in the outbox, retried in the background; "
            "failed: not even saved, the customer was told to e-mail the team).",
            ["kind", "reason", "status"],
            registry=registry,
        ),
        misconfigured=Counter(
            "attune_service_misconfigured",
            "Calls to the handoff service refused as a misconfiguration (401/403: the API token; "
            "404/405: ATTUNE_HANDOFF_URL or an older service), by API and status.  What they carried "
            "stays queued and is retried; anything above zero needs someone to fix a setting.",
            ["api", "status"],
            registry=registry,
        ),
    )


def record(metrics: Callable[[], ActionServerMetrics], update: Callable[[ActionServerMetrics], None]) -> None:
    """Applies ``update`` to the process's metrics; never raises: a metric must not cost a reply."""
    try:
        update(metrics())
    except Exception:
        logger.exception("could not record metrics")


def serve(registry: CollectorRegistry, port: int, addr: str = "127.0.0.1") -> Any:
    """Serves ``registry`` at http://addr:port/metrics from a daemon thread; returns the server (or None
    when the port cannot be bound: logged, and the action server carries on without it).
    """
    try:
        server, _thread = start_http_server(port, addr=addr, registry=registry)
    except OSError as error:
        logger.warning("metrics not served on %s:%s: %s", addr, port, error)
        return None
    logger.info("metrics served on http://%s:%s/metrics", addr, port)
    return server
