"""Self-service for requests about a customer's own account: cancelling Pine+, getting back in.

Every function here takes a customer who has proved the account is theirs (actions/verification.py):
nothing in this module finds an account from what a chatter typed, so no reply can tell whether an
e-mail address has an account.
"""

from datetime import date, datetime

from actions.outcomes import Outcome, day, mask_email, money
from actions.store.gateway import CustomerRecord, DemoStore
from actions.store.models import SUBSCRIPTION_ACTIVE
from bot.constants import CANCEL_SUBSCRIPTION, SLOT_PENDING_CANCELLATION

RESET_SUBJECT = "Reset your Parcelpine password"


def handle(topic: str, customer: CustomerRecord, store: DemoStore, now: datetime) -> Outcome:
    if topic == CANCEL_SUBSCRIPTION:
        return _propose_cancellation(customer)
    store.request_password_reset(customer.id)
    store.mailbox.send(
        customer.email,
        RESET_SUBJECT,
        "Someone asked Pip, Parcelpine's assistant, to help you back into your account. "
        "Follow this link within an hour to choose a new password"
        + (" and unlock your account" if customer.account_locked else "")
        + ": https://parcelpine.example/reset (demo: no real link).",
        now,
    )
    response = "utter_account_unlock_sent" if customer.account_locked else "utter_password_reset_sent"
    return Outcome("reset_link_sent", response, variables={"masked_email": mask_email(customer.email)})


def _propose_cancellation(customer: CustomerRecord) -> Outcome:
    active = [s for s in customer.subscriptions if s.status == SUBSCRIPTION_ACTIVE]
    if active:
        sub = active[0]
        return Outcome(
            "cancellation_proposed",
            "utter_confirm_cancellation",
            variables={"plan": sub.plan, "price": money(sub.price_cents), "renews_on": day(sub.renews_on)},
            slots={SLOT_PENDING_CANCELLATION: True},
        )
    if customer.subscriptions:
        latest = customer.subscriptions[-1]
        return Outcome(
            "subscription_already_cancelled",
            "utter_subscription_already_cancelled",
            failed=True,
            variables={"plan": latest.plan, "cancelled_on": day(latest.cancelled_on)},
        )
    return Outcome("no_subscription", "utter_no_subscription", failed=True)


def confirm_cancellation(customer: CustomerRecord, store: DemoStore, today: date) -> Outcome:
    """Cancels the customer's active subscription after they said yes."""
    active = [s for s in customer.subscriptions if s.status == SUBSCRIPTION_ACTIVE]
    if not active:
        return Outcome("no_subscription", "utter_no_subscription", failed=True)
    store.cancel_subscription(active[0].id, today)
    return Outcome(
        "subscription_cancelled",
        "utter_subscription_cancelled",
        variables={"plan": active[0].plan},
        slots={SLOT_PENDING_CANCELLATION: False},
    )
