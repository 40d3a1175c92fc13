"""Statuses are Literal types with named constants; the values stored and sent never change.

Each status domain is spelled out here as it is stored (databases written by earlier versions hold
these strings, and the API and the action server read them), so renaming a constant is free and
changing a value fails.
"""

import pytest

from actions import durable_queue, handoff_delivery, queue_flusher
from actions.clients.handoff import CALLBACK_RATE_LIMITED
from actions.store import codes
from actions.store import models as store
from handoff.console import agent_admin
from handoff.core import models


@pytest.mark.parametrize(
    ("statuses", "stored"),
    [
        (models.HANDOFF_STATUSES, ("queued", "claimed", "resolved")),
        (models.WEBHOOK_STATUSES, ("pending", "delivered", "dead")),
        (models.FLAG_STATUSES, ("pending", "accepted", "rejected")),
        (models.FINAL_STATUSES, ("completed", "busy", "no-answer", "failed", "canceled")),
        (models.JOB_STATUSES, ("pending", "placing", "rate_limited", "simulated", "error", "unknown")),
        (durable_queue.ITEM_STATUSES, ("pending", "delivered", "rejected")),
        (handoff_delivery.STATUSES, ("delivered", "queued", "rejected", "failed")),
        (store.ORDER_STATUSES, ("processing", "shipped", "delivered", "cancelled")),
        (store.DELIVERY_STATUSES, ("preparing", "in_transit", "delayed", "delivered", "lost")),
        (store.REFUND_STATUSES, ("processing", "refunded", "rejected")),
        (store.SUBSCRIPTION_STATUSES, ("active", "cancelled")),
        (codes.CODE_STATUSES, ("pending", "used", "spent", "replaced")),
    ],
)
def test_each_domain_keeps_its_stored_values(statuses: tuple[str, ...], stored: tuple[str, ...]) -> None:
    assert statuses == stored


def test_the_constants_hold_the_stored_values() -> None:
    assert (models.QUEUED, models.CLAIMED, models.RESOLVED) == ("queued", "claimed", "resolved")
    assert (models.WEBHOOK_PENDING, models.WEBHOOK_DELIVERED, models.WEBHOOK_DEAD) == (
        "pending",
        "delivered",
        "dead",
    )
    assert (models.FLAG_PENDING, models.FLAG_ACCEPTED, models.FLAG_REJECTED) == (
        "pending",
        "accepted",
        "rejected",
    )
    assert (models.SIMULATED, models.CALL_RATE_LIMITED, models.TWILIO_QUEUED) == (
        "simulated",
        "rate_limited",
        "queued",
    )
    assert (models.NOTICE_MISSED, models.NOTICE_ERROR, models.NOTICE_SIMULATED) == (
        "missed",
        "error",
        "simulated",
    )
    assert (queue_flusher.SENT, queue_flusher.REFUSED, queue_flusher.LATER) == (
        "delivered",
        "rejected",
        "later",
    )
    assert (agent_admin.ACTIVE, agent_admin.DISABLED) == ("active", "disabled")


def test_the_action_server_reads_the_call_job_status_the_service_stores() -> None:
    assert CALLBACK_RATE_LIMITED == models.CALL_RATE_LIMITED


def test_a_handoff_status_is_checked_before_it_is_used() -> None:
    assert models.is_handoff_status("claimed")
    assert not models.is_handoff_status("Claimed")
    assert not models.is_handoff_status("deleted")


def test_a_queue_item_with_an_unknown_status_is_refused() -> None:
    assert durable_queue._item_status("rejected") == durable_queue.REJECTED
    with pytest.raises(ValueError, match="unknown queue item status"):
        durable_queue._item_status("lost")
