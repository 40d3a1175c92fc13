"""Issue 14, self-service: only what the customer proved is theirs.  Each finding has a test here.

Findings (an anonymous chatter could): read any order's items, carrier, tracking code and ETA, not
throttled; cancel another customer's Pine+ by typing their e-mail and "yes"; open refunds and returns
on strangers' orders; trigger reset and unlock links; learn which e-mails have accounts.
Trackers are built inline; the store is a throwaway SQLite file; the clock is injected.
"""

from datetime import datetime, timedelta
from typing import Any

import pytest
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select, text

from actions.self_service import (
    ActionConfirmCancellation,
    ActionLookup,
    ActionStopVerification,
    ValidateAccountForm,
)
from actions.settings import SelfServiceLimits
from actions.store.gateway import DemoStore, open_store
from actions.store.models import PasswordReset, VerificationCode
from tests.support.demo_store import TODAY
from tests.support.trackers import tracker, user_event

NOW = datetime(2026, 3, 10, 12, 0, 0)
DANA = {"attune": {"verified": {"id": "C-1001", "phone": "+447700900001", "email": "dana@example.com"}}}
ORDER_SECRETS = ("PP1000200", "oak serving board", "Parcelpost")  # order 10002: Ada's


class Chat:
    """One conversation with the self-service actions, its slots kept as Rasa would keep them."""

    def __init__(
        self,
        store: DemoStore,
        sender: str = "rest:mallory",
        limits: SelfServiceLimits | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.store, self.sender, self.metadata = store, sender, metadata
        self.limits = limits or SelfServiceLimits()
        self.now = NOW
        self.slots: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []

    def _options(self) -> dict[str, Any]:
        return {
            "store": lambda: self.store,
            "today": lambda: TODAY,
            "now": lambda: self.now,
            "limits": lambda: self.limits,
        }

    async def run(self, action: Any, intent: str, text: str = "", **entities: str) -> tuple[list, list[str]]:
        found = [{"entity": name, "value": value} for name, value in entities.items()]
        self.slots.update({name: value for name, value in entities.items() if name != "verification_code"})
        self.history.append(user_event(intent, text, found, self.metadata))
        dispatcher = CollectingDispatcher()
        events = await action(**self._options()).run(
            dispatcher, tracker(dict(self.slots), self.history, self.sender), {}
        )
        for event in events:
            if event.get("event") == "slot":
                self.slots[event["name"]] = event["value"]
        return events, dispatcher.messages

    async def say(self, intent: str, text: str = "", **entities: str) -> tuple[list, list[Any]]:
        return await self.run(ActionLookup, intent, text, **entities)

    async def confirm(self) -> list[str]:
        _, messages = await self.run(ActionConfirmCancellation, "affirm", "yes")
        return [m["response"] for m in messages]


def responses(messages: list[Any]) -> list[str]:
    return [m["response"] for m in messages]


def said(messages: list[Any]) -> str:
    return repr(messages)


def latest_code(store: DemoStore, address: str) -> str:
    body = store.mailbox.recent(address, 1)[0].body
    return body.split("code is ")[1][:6]


# --- reading orders ---------------------------------------------------------------------------------
async def test_an_order_number_alone_shows_nothing_of_the_order(store: DemoStore) -> None:
    chat = Chat(store)
    events, messages = await chat.say("order_status", "where is 10002", order_id="10002")

    assert responses(messages) == ["utter_ask_order_proof"]
    assert not any(secret in said(messages) for secret in ORDER_SECRETS)
    assert SlotSet("verification_pending", True) in events
    assert chat.slots.get("failed_attempts") is None  # a question, not a failed attempt


@pytest.mark.parametrize("proof", [{"email": "ADA@example.com"}, {"postcode": "pp14tr"}])
async def test_the_order_number_with_its_email_or_postcode_shows_the_order(
    store: DemoStore, proof: dict[str, str]
) -> None:
    chat = Chat(store)
    await chat.say("order_status", "where is 10002", order_id="10002")
    events, messages = await chat.say("inform", "here", **proof)

    assert responses(messages) == ["utter_order_in_transit"]
    assert messages[0]["tracking_code"] == "PP1000200"
    assert SlotSet("verification_pending", False) in events


async def test_a_wrong_email_is_a_counted_failed_attempt_and_shows_nothing(store: DemoStore) -> None:
    chat = Chat(store)
    await chat.say("order_status", "where is 10002", order_id="10002")
    events, messages = await chat.say("inform", "ben@example.com", email="ben@example.com")

    assert responses(messages) == ["utter_order_proof_mismatch"]
    assert not any(secret in said(messages) for secret in ORDER_SECRETS)
    assert SlotSet("failed_attempts", 1.0) in events
    assert (
        chat.slots["self_service_attempt"]["why"]
        == "the e-mail address or postcode given does not match the order"
    )
    assert chat.slots["email"] is None  # asked again, not tried again


async def test_the_verified_owner_sees_their_order_and_nobody_elses(store: DemoStore) -> None:
    chat = Chat(store, "web:" + "d" * 32, metadata=DANA)
    _, own = await chat.say("order_status", "where is 10011", order_id="10011")
    _, other = await chat.say("inform", "and 10002?", order_id="10002")

    assert responses(own) == ["utter_order_in_transit"]
    assert responses(other) == ["utter_ask_order_proof"]
    assert not any(secret in said(other) for secret in ORDER_SECRETS)


async def test_a_client_cannot_claim_to_be_verified_through_the_rest_of_its_metadata(
    store: DemoStore,
) -> None:
    chat = Chat(
        store, metadata={"customer": "C-1002", "verified": {"id": "C-1002"}, "email": "ada@example.com"}
    )
    _, messages = await chat.say("order_status", "where is 10002", order_id="10002")

    assert responses(messages) == ["utter_ask_order_proof"]


async def test_an_sms_from_the_number_on_file_is_the_owner(store: DemoStore) -> None:
    _, messages = await Chat(store, "sms:+447700900002").say("order_status", "10002?", order_id="10002")

    assert responses(messages) == ["utter_order_in_transit"]


async def test_lookups_are_limited_per_conversation(store: DemoStore) -> None:
    chat = Chat(store, limits=SelfServiceLimits(lookups_per_conversation=3))
    chat.slots["email"] = "ada@example.com"
    for _ in range(3):
        await chat.say("order_status", "where is 10002", order_id="10002")
    events, messages = await chat.say("order_status", "where is 10002", order_id="10002")

    assert responses(messages) == ["utter_self_service_limited"]
    assert messages[0]["minutes"] == 10
    assert not any(secret in said(messages) for secret in ORDER_SECRETS)
    assert SlotSet("last_outcome", "rate_limited") in events and SlotSet("failed_attempts", 1.0) in events


async def test_lookups_are_limited_per_client_address_across_conversations(store: DemoStore) -> None:
    limits = SelfServiceLimits(lookups_per_address=4)
    address = {"attune": {"client_address": "203.0.113.9"}}
    for number in range(4):
        await Chat(store, f"rest:bot-{number}", limits, address).say(
            "order_status", "10001?", order_id="10001"
        )
    _, blocked = await Chat(store, "rest:bot-new", limits, address).say(
        "order_status", "10001?", order_id="10001"
    )
    _, elsewhere = await Chat(store, "rest:bot-new", limits).say("order_status", "10001?", order_id="10001")

    assert responses(blocked) == ["utter_self_service_limited"]
    assert responses(elsewhere) == ["utter_ask_order_proof"]


async def test_guessing_emails_stops_after_the_failed_check_limit_even_for_the_right_one(
    store: DemoStore,
) -> None:
    chat = Chat(store, limits=SelfServiceLimits(failed_checks_per_conversation=3))
    await chat.say("order_status", "10002?", order_id="10002")
    for guess in ("a@example.com", "b@example.com", "c@example.com"):
        await chat.say("inform", guess, email=guess)
    _, messages = await chat.say("inform", "ada@example.com", email="ada@example.com")

    assert responses(messages) == ["utter_self_service_limited", "utter_human_hint"]


# --- changing accounts and orders -------------------------------------------------------------------
async def test_typing_someone_elses_email_and_yes_does_not_cancel_their_pine_plus(store: DemoStore) -> None:
    chat = Chat(store)
    _, messages = await chat.say("cancel_subscription", "cancel ada@example.com", email="ada@example.com")
    confirmed = await chat.confirm()

    assert responses(messages) == ["utter_code_sent_account"]
    assert chat.slots.get("pending_cancellation") is not True
    assert confirmed == ["utter_cancellation_not_verified"]
    ada = store.find_customer("ada@example.com")
    assert ada is not None and ada.subscriptions[0].status == "active"


async def test_the_code_goes_to_the_email_on_file_and_proves_the_customer(store: DemoStore) -> None:
    chat = Chat(store)
    await chat.say("cancel_subscription", "cancel ada@example.com", email="ada@example.com")
    mail = store.mailbox.recent("ada@example.com")
    events, messages = await chat.say(
        "inform", "the code", verification_code=latest_code(store, "ada@example.com")
    )
    confirmed = await chat.confirm()

    assert [m.subject for m in mail] == ["Your Parcelpine code"]
    assert not any(latest_code(store, "ada@example.com") in str(m) for m in messages)  # never in the chat
    assert responses(messages) == ["utter_code_confirmed", "utter_confirm_cancellation"]
    assert chat.slots["verified_by_code"]["customer"] == "C-1002"
    assert SlotSet("verification_pending", False) in events
    assert confirmed == ["utter_subscription_cancelled"]
    ada = store.find_customer("ada@example.com")
    assert ada is not None and ada.subscriptions[0].status == "cancelled"


async def test_a_wrong_code_is_a_failed_attempt_and_three_spend_it(store: DemoStore) -> None:
    chat = Chat(store)
    await chat.say("account_access", "locked out", email="cleo@example.com")
    right = latest_code(store, "cleo@example.com")
    wrong = f"{(int(right) + 1) % 10**6:06d}"
    for attempt in (1, 2, 3):
        events, messages = await chat.say("inform", wrong, verification_code=wrong)
        assert responses(messages)[0] == "utter_code_wrong"
        assert SlotSet("failed_attempts", float(attempt)) in events
    _, late = await chat.say("inform", right, verification_code=right)

    # Spent: the right code no longer works.
    assert responses(late) == ["utter_code_wrong", "utter_human_hint"]
    assert chat.slots["self_service_attempt"]["why"] == "the one-time code was wrong or had expired"


async def test_a_code_expires_after_ten_minutes(store: DemoStore) -> None:
    chat = Chat(store)
    await chat.say("account_access", "locked out", email="cleo@example.com")
    chat.now = NOW + timedelta(minutes=10, seconds=1)
    _, messages = await chat.say("inform", "code", verification_code=latest_code(store, "cleo@example.com"))

    assert responses(messages) == ["utter_code_wrong"]


async def test_codes_are_kept_only_as_salted_hashes(store: DemoStore, tmp_path: Any) -> None:
    chat = Chat(store)
    await chat.say("account_access", "locked out", email="cleo@example.com")
    code = latest_code(store, "cleo@example.com")

    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")._engine
    with engine.connect() as connection:
        rows = [tuple(map(str, row)) for row in connection.execute(text("select * from verification_codes"))]
    assert rows and not any(code in value for row in rows for value in row)


async def test_a_reset_or_unlock_link_needs_the_code_first(store: DemoStore) -> None:
    chat = Chat(store)
    _, messages = await chat.say("account_access", "I'm locked out", email="cleo@example.com")

    assert responses(messages) == ["utter_code_sent_account"]
    assert [m.subject for m in store.mailbox.recent("cleo@example.com")] == ["Your Parcelpine code"]
    with store._sessions() as session:
        assert session.execute(select(PasswordReset)).first() is None

    _, messages = await chat.say("inform", "code", verification_code=latest_code(store, "cleo@example.com"))
    assert responses(messages) == ["utter_code_confirmed", "utter_account_unlock_sent"]
    assert store.mailbox.recent("cleo@example.com", 1)[0].subject == "Reset your Parcelpine password"


async def test_a_return_on_someone_elses_order_needs_a_code_to_the_orders_email(store: DemoStore) -> None:
    chat = Chat(store)
    await chat.say("return_or_refund", "return 10005", order_id="10005")
    _, messages = await chat.say(
        "inform", "PP3 8JD", postcode="PP3 8JD"
    )  # the postcode proves seeing, not changing

    assert responses(messages) == ["utter_code_sent_order"]
    order = store.find_order("10005")
    assert order is not None and order.refunds == ()
    assert store.mailbox.recent("cleo@example.com", 1)[0].subject == "Your Parcelpine code"

    _, messages = await chat.say("inform", "code", verification_code=latest_code(store, "cleo@example.com"))
    assert responses(messages) == ["utter_code_confirmed", "utter_return_started"]


async def test_a_lost_parcel_opens_its_refund_only_for_the_owner(store: DemoStore) -> None:
    chat = Chat(store)
    await chat.say("order_status", "10004?", order_id="10004")
    _, messages = await chat.say("inform", "ben@example.com", email="ben@example.com")

    assert responses(messages) == ["utter_code_sent_order"]
    order = store.find_order("10004")
    assert order is not None and order.refunds == ()


async def test_a_verified_customer_changes_their_own_account_without_a_code(store: DemoStore) -> None:
    chat = Chat(store, "web:" + "d" * 32, metadata=DANA)
    _, messages = await chat.say("cancel_subscription", "cancel my pine+")

    assert responses(messages) == ["utter_confirm_cancellation"]
    assert await chat.confirm() == ["utter_subscription_cancelled"]
    assert store.mailbox.recent() == []


async def test_a_verified_customer_naming_another_account_gets_the_code_route(store: DemoStore) -> None:
    chat = Chat(store, "web:" + "d" * 32, metadata=DANA)
    _, messages = await chat.say("cancel_subscription", "cancel ada's", email="ada@example.com")

    assert responses(messages) == ["utter_code_sent_account"]
    assert await chat.confirm() == ["utter_cancellation_not_verified"]


# --- no enumeration ---------------------------------------------------------------------------------
@pytest.mark.parametrize("topic", ["cancel_subscription", "account_access"])
async def test_the_reply_is_the_same_whether_or_not_the_email_has_an_account(
    store: DemoStore, topic: str
) -> None:
    def scrub(found: list, email: str) -> str:
        return repr(found).replace(email, "EMAIL")

    answers = []
    for email in ("cleo@example.com", "nobody@example.com", "ben@example.com"):
        chat = Chat(store, f"rest:{email}")
        events, messages = await chat.say(topic, email, email=email)
        _, wrong = await chat.say("inform", "000000", verification_code="000000")
        answers.append((scrub(events, email), scrub(messages, email), scrub(wrong, email)))

    assert answers[0] == answers[1] == answers[2]


async def test_a_code_for_an_email_with_no_account_is_sent_nowhere_and_proves_nothing(
    store: DemoStore,
) -> None:
    chat = Chat(store)
    await chat.say("cancel_subscription", "cancel", email="nobody@example.com")

    assert store.mailbox.recent() == []
    with store._sessions() as session:
        (row,) = session.execute(select(VerificationCode)).scalars()
    assert row.customer_id is None


async def test_one_customer_is_not_flooded_with_codes_from_many_conversations(store: DemoStore) -> None:
    limits = SelfServiceLimits(codes_per_window=2)
    for number in range(5):
        await Chat(store, f"rest:flood-{number}", limits).say(
            "account_access", "reset", email="ada@example.com"
        )

    assert len(store.mailbox.recent("ada@example.com")) == 2


# --- giving up, and the form ------------------------------------------------------------------------
async def test_giving_up_while_asked_for_a_code_is_a_failed_attempt_and_withdraws_the_code(
    store: DemoStore,
) -> None:
    chat = Chat(store)
    await chat.say("cancel_subscription", "cancel", email="ada@example.com")
    code = latest_code(store, "ada@example.com")
    events, messages = await chat.run(ActionStopVerification, "deny", "never mind")
    _, late = await chat.say("inform", code, verification_code=code)

    assert responses(messages) == ["utter_verification_stopped"]
    assert SlotSet("last_outcome", "verification_abandoned") in events
    assert SlotSet("failed_attempts", 1.0) in events and SlotSet("verification_pending", False) in events
    assert responses(late)[0] == "utter_code_wrong"


async def test_never_mind_before_anything_was_asked_is_not_a_failed_attempt(store: DemoStore) -> None:
    events, messages = await Chat(store).run(ActionStopVerification, "deny", "never mind")

    assert responses(messages) == ["utter_verification_stopped"]
    assert all(event.get("name") != "failed_attempts" for event in events)


async def test_the_account_form_asks_for_an_email_only_when_nobody_is_verified(store: DemoStore) -> None:
    form = ValidateAccountForm(store=lambda: store, now=lambda: NOW)
    dispatcher = CollectingDispatcher()

    def asked(metadata: dict[str, Any] | None, sender: str = "rest:x") -> Any:
        chat = tracker({}, [user_event("cancel_subscription", metadata=metadata)], sender)
        return form.required_slots(["email"], dispatcher, chat, {})

    assert await asked(DANA) == []
    assert await asked(None) == ["email"]
    assert await asked(None, "sms:+447700900003") == []  # Ben's number on file
    assert await asked({"attune": {"verified": {"id": "C-9999"}}}) == [
        "email"
    ]  # verified, but not a customer


# --- the store and the settings ---------------------------------------------------------------------
def test_a_store_from_before_verification_is_seeded_afresh(tmp_path: Any) -> None:
    old = open_store(f"sqlite:///{tmp_path / 'old.db'}")
    with old._engine.begin() as connection:
        connection.execute(text("create table customers (id integer primary key, name text, email text)"))
        connection.execute(text("insert into customers values (1, 'Ada', 'ada@example.com')"))
    old.prepare(TODAY)

    dana = old.customer_by_ref("C-1001")
    assert dana is not None and (dana.email, dana.phone) == ("dana@example.com", "+447700900001")
    assert [o for o in ("10011", "10012") if (found := old.find_order(o)) and found.customer_id == dana.id]
    old.close()


def test_the_limits_come_from_the_environment_and_fail_fast() -> None:
    from actions.settings import ActionServerSettings, ConfigError

    env = {"ATTUNE_SELF_SERVICE_LOOKUPS_PER_ADDRESS": "100000", "ATTUNE_SELF_SERVICE_WINDOW_SECONDS": "60"}
    limits = ActionServerSettings.from_env(env).self_service_limits
    assert (limits.lookups_per_address, limits.window_seconds, limits.lookups_per_conversation) == (
        100000,
        60,
        20,
    )
    with pytest.raises(ConfigError, match="ATTUNE_SELF_SERVICE_CODES_PER_WINDOW"):
        ActionServerSettings.from_env({"ATTUNE_SELF_SERVICE_CODES_PER_WINDOW": "0"})
