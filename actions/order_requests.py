"""Self-service for requests about one order: status, delivery problems, returns, refunds, billing.

Each function looks at the store's record and returns an ``Outcome``; the few that change the
store (opening a refund) do it through the ``DemoStore`` they are given, and only when the customer
may change the order (``may_change``: actions/verification.py decides).  Otherwise they answer
``CHANGE_NEEDS_CODE`` and the caller sends a one-time code first.  No Rasa here.
"""

from datetime import date, timedelta
from typing import Final

from actions.outcomes import Outcome, day, money
from actions.store.gateway import DemoStore, OrderRecord, RefundRecord
from actions.store.models import (
    DELIVERY_DELAYED,
    DELIVERY_DELIVERED,
    DELIVERY_IN_TRANSIT,
    DELIVERY_LOST,
    ORDER_CANCELLED,
    REFUND_REFUNDED,
    REFUND_REJECTED,
)
from bot.constants import (
    BILLING_ISSUE,
    DELIVERY_PROBLEM,
    PROBLEM_DAMAGED,
    PROBLEM_MISSING,
    REFUND_STATUS,
    RETURN_OR_REFUND,
    SLOT_ORDER_ID,
)

RETURN_WINDOW_DAYS = 30
# The request would open a refund and the customer has not proved the order is theirs yet.
CHANGE_NEEDS_CODE: Final = "change_needs_code"


class _ChangeNotAllowed(Exception):
    """Raised where a refund would be opened without the customer's proof (see ``handle``)."""


def not_found(order_id: str) -> Outcome:
    return Outcome(
        "order_not_found",
        "utter_order_not_found",
        failed=True,
        variables={"order_id": order_id},
        slots={SLOT_ORDER_ID: None},
    )


def handle(
    topic: str, order: OrderRecord, problem: str | None, store: DemoStore, today: date, may_change: bool
) -> Outcome:
    """The outcome of ``topic`` (an order intent) for ``order``, which the customer may see."""
    gate = _Refunds(store, today, may_change)
    try:
        if topic == DELIVERY_PROBLEM:
            return _delivery_problem(order, problem, gate)
        if topic == RETURN_OR_REFUND:
            return _return(order, gate)
        if topic == REFUND_STATUS:
            return _refund_status(order)
        if topic == BILLING_ISSUE:
            return _billing(order, gate)
        return _status(order, gate)
    except _ChangeNotAllowed:
        return Outcome(
            CHANGE_NEEDS_CODE, "utter_code_sent_order", variables={"order_id": order.id}, question=True
        )


class _Refunds:
    """Opens refunds, only for a customer who may change the order."""

    def __init__(self, store: DemoStore, today: date, may_change: bool) -> None:
        self.store, self.today, self.may_change = store, today, may_change

    def open(self, order: OrderRecord, reason: str, cents: int, reuse: bool = True) -> RefundRecord:
        existing = [r for r in order.refunds if r.reason == reason and r.status != REFUND_REJECTED]
        if reuse and existing:
            return existing[-1]
        if not self.may_change:
            raise _ChangeNotAllowed
        return self.store.open_refund(order.id, cents, reason, self.today)


def _base(order: OrderRecord) -> dict[str, str]:
    return {
        "order_id": order.id,
        "items": order.items,
        "carrier": order.carrier or "our carrier",
        "tracking_code": order.tracking_code or "not yet issued",
        "eta": day(order.eta),
        "delivered_on": day(order.delivered_on),
        "amount": money(order.total_cents),
    }


def _status(order: OrderRecord, refunds: _Refunds) -> Outcome:
    v = _base(order)
    if order.status == ORDER_CANCELLED:
        return Outcome("order_cancelled", "utter_order_cancelled", variables=v)
    status = order.delivery_status
    if status == DELIVERY_LOST:
        return _lost(order, refunds)
    if status == DELIVERY_DELAYED:
        return Outcome("delivery_delayed", "utter_order_delayed", failed=True, variables=v)
    if status == DELIVERY_DELIVERED:
        return Outcome("delivered", "utter_order_delivered", variables=v)
    if status == DELIVERY_IN_TRANSIT:
        return Outcome("in_transit", "utter_order_in_transit", variables=v)
    return Outcome("processing", "utter_order_processing", variables=v)


def _lost(order: OrderRecord, refunds: _Refunds) -> Outcome:
    refund = refunds.open(order, "lost", order.total_cents)
    v = {**_base(order), "refund_amount": money(refund.amount_cents), "expected_by": day(refund.expected_by)}
    return Outcome("lost_refund_opened", "utter_order_lost", variables=v)


def _delivery_problem(order: OrderRecord, problem: str | None, refunds: _Refunds) -> Outcome:
    v = _base(order)
    status = order.delivery_status
    if status == DELIVERY_LOST:
        return _lost(order, refunds)
    if status == DELIVERY_DELAYED:
        return Outcome("delivery_delayed", "utter_order_delayed", failed=True, variables=v)
    if status == DELIVERY_DELIVERED:
        if problem == PROBLEM_DAMAGED:
            refund = refunds.open(order, "damaged", order.total_cents)
            v = {**v, "refund_amount": money(refund.amount_cents), "expected_by": day(refund.expected_by)}
            return Outcome("damaged_refund_opened", "utter_damaged_refund_opened", variables=v)
        if problem == PROBLEM_MISSING:
            # The carrier says delivered, the customer says not: only a person can sort that out.
            return Outcome(
                "marked_delivered_but_missing", "utter_delivered_but_missing", failed=True, variables=v
            )
        return Outcome("delivered_ask_problem", "utter_delivered_ask_problem", variables=v)
    if status == DELIVERY_IN_TRANSIT:
        return Outcome("in_transit", "utter_order_in_transit", variables=v)
    return Outcome("processing", "utter_order_processing", variables=v)


def _return(order: OrderRecord, refunds: _Refunds) -> Outcome:
    v = _base(order)
    if order.refunds:
        return _refund_status(order)
    if order.delivery_status != DELIVERY_DELIVERED or order.delivered_on is None:
        return Outcome("not_delivered_yet", "utter_return_not_delivered", failed=True, variables=v)
    if order.delivered_on < refunds.today - timedelta(days=RETURN_WINDOW_DAYS):
        v = {**v, "window_days": str(RETURN_WINDOW_DAYS)}
        return Outcome("return_window_closed", "utter_return_window_closed", failed=True, variables=v)
    refund = refunds.open(order, "return", order.total_cents, reuse=False)
    v = {**v, "refund_amount": money(refund.amount_cents), "expected_by": day(refund.expected_by)}
    return Outcome("return_started", "utter_return_started", variables=v)


def _refund_status(order: OrderRecord) -> Outcome:
    v = _base(order)
    if not order.refunds:
        return Outcome("no_refund", "utter_no_refund_found", failed=True, variables=v)
    refund = order.refunds[-1]
    v = {
        **v,
        "refund_amount": money(refund.amount_cents),
        "requested_on": day(refund.requested_on),
        "expected_by": day(refund.expected_by),
        "refunded_on": day(refund.refunded_on),
    }
    if refund.status == REFUND_REFUNDED:
        return Outcome("refund_done", "utter_refund_done", variables=v)
    if refund.status == REFUND_REJECTED:
        return Outcome("refund_rejected", "utter_refund_rejected", failed=True, variables=v)
    return Outcome("refund_pending", "utter_refund_processing", failed=True, variables=v)


def _billing(order: OrderRecord, refunds: _Refunds) -> Outcome:
    v = _base(order)
    charges = order.charges_cents
    if len(charges) > 1:
        refund = refunds.open(order, "duplicate_charge", sum(charges[1:]))
        v = {**v, "refund_amount": money(refund.amount_cents), "expected_by": day(refund.expected_by)}
        return Outcome("duplicate_charge_refunded", "utter_duplicate_charge_refunded", variables=v)
    v = {**v, "charged": money(sum(charges))}
    return Outcome("no_duplicate_found", "utter_single_charge_found", failed=True, variables=v)
