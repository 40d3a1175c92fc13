"""The handoff service's Prometheus metrics, on the app's own registry (``GET /metrics``).

``create(registry, queue_depth)`` defines them on a registry the app factory makes (handoff/app.py),
never on prometheus_client's global one, so several apps in one process (tests) keep apart.  Views
record through the ``HandoffMetrics`` they find under ``METRICS`` (handoff/core/app_keys.py); the call-back
functions are handed ``callback_outcome`` (handoff/callbacks/call_jobs.py); the queue depth is read from the
database at scrape time.

Labels only ever hold values from small fixed sets (reasons, priorities, call statuses, route
patterns): never a conversation id, phone number, customer or handoff id, so the exposition holds no
personal data and its size stays bounded.
"""

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.empathy.drift import ALARM_CHARTS as DRIFT_CHARTS
from handoff.core.models import CALL_ERROR, CALL_RATE_LIMITED, CALL_UNKNOWN, FINAL_STATUSES, SIMULATED
from handoff.shared.payload_contract import PRIORITIES, REASONS

logger = logging.getLogger(__name__)

# What generate_latest writes (the classic text format, which every Prometheus reads).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OTHER = "other"
# Every way a call-back ends: Twilio's final statuses, or never placed / not placed by us.
CALLBACK_OUTCOMES = (*FINAL_STATUSES, CALL_ERROR, SIMULATED, CALL_RATE_LIMITED, CALL_UNKNOWN)
FRUSTRATION_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# The route label of a request no route matched (404, 405): never its raw path.
UNMATCHED = "unmatched"


def bounded(value: object, allowed: Iterable[str]) -> str:
    """``value`` if it is one of ``allowed``, else "other": a label never takes an unexpected value."""
    text = str(value)
    return text if text in allowed else OTHER


class QueueDepth(Collector):
    """``attune_handoff_queue_depth``: handoffs waiting for an agent, by priority, read when scraped."""

    NAME = "attune_handoff_queue_depth"
    HELP = "Handoffs waiting in the queue for an agent, by priority (read from the database when scraped)."

    def __init__(self, depth: Callable[[], Mapping[str, int]]) -> None:
        self._depth = depth

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.NAME, self.HELP, labels=["priority"])]

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(self.NAME, self.HELP, labels=["priority"])
        try:
            depth = self._depth()
        except Exception as error:
            # A scrape must not fail because the database is down (/healthz says that); no sample.
            logger.warning("could not read the handoff queue depth", extra={"error": str(error)})
            depth = {}
        for priority, count in depth.items():
            gauge.add_metric([bounded(priority, PRIORITIES)], float(count))
        return [gauge]


@dataclass(frozen=True)
class HandoffMetrics:
    registry: CollectorRegistry
    handoffs_accepted: Counter
    frustration_at_handoff: Histogram
    callback_outcomes: Counter
    request_seconds: Histogram
    drift_alerts: Counter
    drift_out_of_control: Gauge

    def handoff_accepted(self, reason: str, priority: str, payload: Mapping[str, Any]) -> None:
        """A new handoff is in the queue (not a repeated delivery of one already there)."""
        reason = bounded(reason, REASONS)
        self.handoffs_accepted.labels(reason, bounded(priority, PRIORITIES)).inc()
        frustration = last_frustration(payload)
        if frustration is not None:
            self.frustration_at_handoff.labels(reason).observe(frustration)

    def callback_outcome(self, status: str) -> None:
        """A call-back job reached its final status (call_jobs.py calls this once per job)."""
        self.callback_outcomes.labels(bounded(status, CALLBACK_OUTCOMES)).inc()

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request; ``route`` is the route's pattern (``/api/v1/handoffs/{handoff_id}``)."""
        self.request_seconds.labels(bounded(method, METHODS), route, str(status)).observe(seconds)

    def drift_alert(self, chart: str) -> None:
        """A drift chart's point was stored out of control (handoff/analytics/drift.py)."""
        self.drift_alerts.labels(bounded(chart, DRIFT_CHARTS)).inc()

    def drift_out_of_control_now(self, charts: Iterable[str]) -> None:
        """The charts (one entry per key) out of control on the latest checked day."""
        counts: dict[str, int] = dict.fromkeys(DRIFT_CHARTS, 0)
        for chart in charts:
            label = bounded(chart, DRIFT_CHARTS)
            counts[label] = counts.get(label, 0) + 1
        for chart, count in counts.items():
            self.drift_out_of_control.labels(chart).set(count)

    def exposition(self) -> bytes:
        """Everything in the registry, in the text format (runs the queue-depth query)."""
        return bytes(generate_latest(self.registry))


def last_frustration(payload: Mapping[str, Any]) -> float | None:
    """The frustration of the payload's last trajectory point; None when it has none (opted out)."""
    if not bool((payload.get("emotion_processing") or {}).get("enabled", True)):
        return None
    trajectory = payload.get("trajectory") or []
    if not trajectory or not isinstance(trajectory[-1], Mapping):
        return None
    value = trajectory[-1].get("frustration")
    return float(value) if isinstance(value, (int, float)) else None


def create(registry: CollectorRegistry, queue_depth: Callable[[], Mapping[str, int]]) -> HandoffMetrics:
    registry.register(QueueDepth(queue_depth))
    return HandoffMetrics(
        registry=registry,
        handoffs_accepted=Counter(
            "attune_handoffs_accepted",
            "New handoffs accepted into the queue, by reason and priority (repeated deliveries not counted).",
            ["reason", "priority"],
            registry=registry,
        ),
        frustration_at_handoff=Histogram(
            "attune_handoff_frustration",
            "The customer's frustration (0-1) at the last scored turn before the handoff, by reason; "
            "none for customers who opted out of emotion analysis.",
            ["reason"],
            buckets=FRUSTRATION_BUCKETS,
            registry=registry,
        ),
        callback_outcomes=Counter(
            "attune_callback_outcomes",
            "Call-backs by final status: Twilio's (completed, busy, no-answer, failed, canceled) after the "
            "last attempt, or error, simulated (no Twilio credentials), rate_limited, unknown.",
            ["status"],
            registry=registry,
        ),
        request_seconds=Histogram(
            "attune_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route pattern and status code.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        drift_alerts=Counter(
            "attune_drift_alerts",
            "Drift chart points stored out of control, by chart (fallback_rate, intent_share, "
            "emotion_share, frustration_ewma): one per chart, key and UTC day (docs/drift.md).",
            ["chart"],
            registry=registry,
        ),
        drift_out_of_control=Gauge(
            "attune_drift_out_of_control",
            "Drift charts (counted per intent or emotion label) out of control on the latest checked day.",
            ["chart"],
            registry=registry,
        ),
    )
