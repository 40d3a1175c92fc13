from actions import order_requests
from actions.store.gateway import DemoStore
from tests.support.demo_store import TODAY


def handle(store: DemoStore, topic: str, order_id: str, problem: str | None = None, may_change: bool = True):
    order = store.find_order(order_id)
    assert order is not None
    return order_requests.handle(topic, order, problem, store, TODAY, may_change)


def outcome(store: DemoStore, topic: str, order_id: str, problem: str | None = None) -> tuple[str, bool]:
    result = handle(store, topic, order_id, problem)
    return result.code, result.failed


def test_every_seeded_scenario_has_its_outcome(store: DemoStore) -> None:
    assert outcome(store, "order_status", "10001") == ("delivered", False)
    assert outcome(store, "order_status", "10003") == ("delivery_delayed", True)
    assert outcome(store, "order_status", "10004") == ("lost_refund_opened", False)
    assert outcome(store, "order_status", "10010") == ("processing", False)
    assert outcome(store, "delivery_problem", "10001", "missing") == ("marked_delivered_but_missing", True)
    assert outcome(store, "delivery_problem", "10001") == ("delivered_ask_problem", False)
    assert outcome(store, "return_or_refund", "10009") == ("return_window_closed", True)
    assert outcome(store, "return_or_refund", "10002") == ("not_delivered_yet", True)
    assert outcome(store, "refund_status", "10001") == ("no_refund", True)
    assert outcome(store, "refund_status", "10006") == ("refund_pending", True)
    assert outcome(store, "billing_issue", "10001") == ("no_duplicate_found", True)


def test_return_inside_the_window_opens_a_refund_for_the_order_total(store: DemoStore) -> None:
    result = handle(store, "return_or_refund", "10005")

    assert result.code == "return_started"
    assert result.variables["refund_amount"] == "€24.00"
    assert result.variables["expected_by"] == "Sun 15 Mar"


def test_duplicate_charge_is_refunded_once(store: DemoStore) -> None:
    first = handle(store, "billing_issue", "10008")
    again = handle(store, "billing_issue", "10008")

    assert first.code == again.code == "duplicate_charge_refunded"
    order = store.find_order("10008")
    assert order is not None
    assert [r.amount_cents for r in order.refunds] == [8900]


def test_without_the_right_to_change_the_order_no_refund_is_opened(store: DemoStore) -> None:
    """Issue 14: refunds and returns were opened on strangers' orders; now only for the owner."""
    for topic, order_id, problem in (
        ("return_or_refund", "10005", None),
        ("delivery_problem", "10005", "damaged"),
        ("order_status", "10004", None),  # lost: its refund waits for the code
        ("billing_issue", "10008", None),
    ):
        result = handle(store, topic, order_id, problem, may_change=False)
        assert (result.code, result.question) == (order_requests.CHANGE_NEEDS_CODE, True), topic
        order = store.find_order(order_id)
        assert order is not None and order.refunds == (), topic


def test_reading_an_order_needs_no_right_to_change_it(store: DemoStore) -> None:
    assert handle(store, "order_status", "10002", may_change=False).code == "in_transit"
    assert handle(store, "refund_status", "10006", may_change=False).code == "refund_pending"
