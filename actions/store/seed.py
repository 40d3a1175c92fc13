"""Seeds the demo store with fake customers and orders that exercise every self-service outcome.

Dates are relative to ``today`` so that "arrives tomorrow" stays true whenever the demo is run.
The table in README.md ("Demo store cheat sheet") lists these records; keep the two in step.
"""

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from actions.store.models import (
    DELIVERY_DELAYED,
    DELIVERY_DELIVERED,
    DELIVERY_IN_TRANSIT,
    DELIVERY_LOST,
    DELIVERY_PREPARING,
    ORDER_DELIVERED,
    ORDER_PROCESSING,
    ORDER_SHIPPED,
    REFUND_PROCESSING,
    REFUND_REFUNDED,
    SUBSCRIPTION_ACTIVE,
    SUBSCRIPTION_CANCELLED,
    Charge,
    Customer,
    Delivery,
    Order,
    OrderStatus,
    Refund,
    Subscription,
)

# Phone numbers are from Ofcom's drama range (07700 900xxx); postcodes use "PP", no real area.
# Dana (C-1001) is the demo customer `make run` signs an identity token for (bot/launcher.py).
POSTCODES = {1: "PP1 4TR", 2: "PP2 7QS", 3: "PP3 8JD", 4: "PP4 2LN", 5: "PP5 1DW"}


def _customers() -> list[Customer]:
    def customer(id: int, ref: str, name: str, email: str, locked: bool = False) -> Customer:
        return Customer(
            id=id,
            ref=ref,
            name=name,
            email=email,
            account_locked=locked,
            phone=f"+447700900{ref[-3:]}",
            postcode=POSTCODES[id],
        )

    return [
        customer(1, "C-1002", "Ada Fernsby", "ada@example.com"),
        customer(2, "C-1003", "Ben Okafor", "ben@example.com"),
        customer(3, "C-1004", "Cleo Marchetti", "cleo@example.com", locked=True),
        customer(4, "C-1005", "Dev Raman", "dev@example.com"),
        customer(5, "C-1001", "Dana Whitlow", "dana@example.com"),
    ]


def _orders(today: date) -> list[object]:
    d = lambda days: today - timedelta(days=days)  # noqa: E731 - reads better than a def here
    rows: list[object] = []

    def order(order_id: str, customer: int, placed: int, status: OrderStatus, items: str, cents: int) -> None:
        rows.append(
            Order(
                id=order_id,
                customer_id=customer,
                placed_on=d(placed),
                status=status,
                items=items,
                total_cents=cents,
                postcode=POSTCODES[customer],
            )
        )
        rows.append(Charge(order_id=order_id, amount_cents=cents, charged_on=d(placed)))

    # 10001: delivered last week, nothing wrong.
    order("10001", 1, 9, ORDER_DELIVERED, "2 linen cushion covers", 3800)
    rows.append(
        Delivery(
            order_id="10001",
            carrier="Parcelpost",
            tracking_code="PP1000100",
            status=DELIVERY_DELIVERED,
            delivered_on=d(6),
        )
    )
    # 10002: on its way, arrives tomorrow.
    order("10002", 1, 3, ORDER_SHIPPED, "oak serving board", 4500)
    rows.append(
        Delivery(
            order_id="10002",
            carrier="Parcelpost",
            tracking_code="PP1000200",
            status=DELIVERY_IN_TRANSIT,
            eta=today + timedelta(days=1),
        )
    )
    # 10003: stuck with the carrier, new estimate in four days.
    order("10003", 2, 12, ORDER_SHIPPED, "ceramic table lamp", 6900)
    rows.append(
        Delivery(
            order_id="10003",
            carrier="SwiftShip",
            tracking_code="SS88310003",
            status=DELIVERY_DELAYED,
            eta=today + timedelta(days=4),
        )
    )
    # 10004: the carrier has lost it.
    order("10004", 2, 20, ORDER_SHIPPED, "wool throw, grey", 5900)
    rows.append(
        Delivery(order_id="10004", carrier="SwiftShip", tracking_code="SS88310004", status=DELIVERY_LOST)
    )
    # 10005: delivered three days ago (the demo for a damaged parcel and for a return).
    order("10005", 3, 8, ORDER_DELIVERED, "set of 4 glass tumblers", 2400)
    rows.append(
        Delivery(
            order_id="10005",
            carrier="Parcelpost",
            tracking_code="PP1000500",
            status=DELIVERY_DELIVERED,
            delivered_on=d(3),
        )
    )
    # 10006: returned, refund requested and still processing.
    order("10006", 3, 25, ORDER_DELIVERED, "bamboo bath mat", 2900)
    rows.append(
        Delivery(
            order_id="10006",
            carrier="Parcelpost",
            tracking_code="PP1000600",
            status=DELIVERY_DELIVERED,
            delivered_on=d(21),
        )
    )
    rows.append(
        Refund(
            order_id="10006",
            amount_cents=2900,
            reason="return",
            status=REFUND_PROCESSING,
            requested_on=d(5),
            expected_by=today + timedelta(days=2),
        )
    )
    # 10007: refunded last week.
    order("10007", 4, 30, ORDER_DELIVERED, "copper kettle", 7900)
    rows.append(
        Delivery(
            order_id="10007",
            carrier="Parcelpost",
            tracking_code="PP1000700",
            status=DELIVERY_DELIVERED,
            delivered_on=d(26),
        )
    )
    rows.append(
        Refund(
            order_id="10007",
            amount_cents=7900,
            reason="return",
            status=REFUND_REFUNDED,
            requested_on=d(15),
            refunded_on=d(7),
        )
    )
    # 10008: charged twice for the same order.
    order("10008", 4, 4, ORDER_SHIPPED, "linen duvet cover", 8900)
    rows.append(Charge(order_id="10008", amount_cents=8900, charged_on=d(4)))
    rows.append(
        Delivery(
            order_id="10008",
            carrier="Parcelpost",
            tracking_code="PP1000800",
            status=DELIVERY_IN_TRANSIT,
            eta=today + timedelta(days=2),
        )
    )
    # 10009: delivered two months ago, outside the 30-day return window.
    order("10009", 1, 65, ORDER_DELIVERED, "rattan laundry basket", 3500)
    rows.append(
        Delivery(
            order_id="10009",
            carrier="Parcelpost",
            tracking_code="PP1000900",
            status=DELIVERY_DELIVERED,
            delivered_on=d(60),
        )
    )
    # 10010: placed today, still being packed.
    order("10010", 2, 0, ORDER_PROCESSING, "scented candle trio", 3200)
    rows.append(
        Delivery(
            order_id="10010",
            carrier="Parcelpost",
            tracking_code="PP1001000",
            status=DELIVERY_PREPARING,
            eta=today + timedelta(days=4),
        )
    )
    # Dana's (the signed-in demo customer): one on its way, one she can still return.
    order("10011", 5, 2, ORDER_SHIPPED, "walnut photo frame", 2600)
    rows.append(
        Delivery(
            order_id="10011",
            carrier="Parcelpost",
            tracking_code="PP1001100",
            status=DELIVERY_IN_TRANSIT,
            eta=today + timedelta(days=2),
        )
    )
    order("10012", 5, 7, ORDER_DELIVERED, "set of 2 stoneware mugs", 1800)
    rows.append(
        Delivery(
            order_id="10012",
            carrier="Parcelpost",
            tracking_code="PP1001200",
            status=DELIVERY_DELIVERED,
            delivered_on=d(4),
        )
    )
    return rows


def _subscriptions(today: date) -> list[Subscription]:
    return [
        # Ada: active Pine+ box, renews in a week.
        Subscription(
            customer_id=1,
            plan="Pine+ monthly box",
            price_cents=1900,
            status=SUBSCRIPTION_ACTIVE,
            renews_on=today + timedelta(days=7),
        ),
        # Ben: already cancelled last month.
        Subscription(
            customer_id=2,
            plan="Pine+ monthly box",
            price_cents=1900,
            status=SUBSCRIPTION_CANCELLED,
            cancelled_on=today - timedelta(days=33),
        ),
        # Dev: active, renews in three weeks.
        Subscription(
            customer_id=4,
            plan="Pine+ quarterly box",
            price_cents=4900,
            status=SUBSCRIPTION_ACTIVE,
            renews_on=today + timedelta(days=21),
        ),
        # Dana: active, renews in ten days.
        Subscription(
            customer_id=5,
            plan="Pine+ monthly box",
            price_cents=1900,
            status=SUBSCRIPTION_ACTIVE,
            renews_on=today + timedelta(days=10),
        ),
    ]


def seed_if_empty(session: Session, today: date) -> bool:
    """Inserts the demo records unless the store already holds customers; returns whether it seeded."""
    if session.execute(select(func.count()).select_from(Customer)).scalar_one() > 0:
        return False
    session.add_all(_customers())
    session.flush()
    # Parents first: PostgreSQL checks foreign keys on every insert (SQLite does not by default),
    # and without relationship()s the unit of work may insert a charge before its order.
    rows = _orders(today)
    session.add_all([row for row in rows if isinstance(row, Order)])
    session.flush()
    session.add_all([row for row in rows if not isinstance(row, Order)])
    session.add_all(_subscriptions(today))
    session.commit()
    return True
