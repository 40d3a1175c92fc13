"""Issue 14, self-service, tried as an attacker would against a running stack (REST, the real NLU).

Each finding of the issue's "Self-service doesn't know whose data it is" has a test here; the unit
tests of every rule are in tests/actions/test_self_service_authorisation.py.  The demo mailbox is read
the README's way (tests/support/mailbox.py: ``python -m actions.store outbox``).
"""

import uuid
from typing import Any

import aiohttp
import pytest

from actions.store.gateway import DemoStore, open_store
from handoff.shared.identity_tokens import sign_identity_token
from tests.support.mailbox import latest_code
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration

REST = "/webhooks/rest/webhook"
ADA_ORDER_SECRETS = ("PP1000200", "oak serving board")  # order 10002 is Ada's


async def rest(stack: RunningStack, sender: str, text: str, token: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            stack.rasa_url + REST,
            json={"sender": sender, "message": text},
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=60),
        ) as response,
    ):
        assert response.status == 200, await response.text()
        replies: list[dict[str, Any]] = await response.json()
        return " ".join(reply.get("text", "") for reply in replies)


def store_of(stack: RunningStack) -> DemoStore:
    return open_store(f"sqlite:///{stack.var_dir / 'store.db'}")


def sender() -> str:
    return f"attacker-{uuid.uuid4().hex[:12]}"


async def test_an_order_number_alone_reveals_nothing_its_email_shows_it(stack: RunningStack) -> None:
    chat = sender()
    asked = await rest(stack, chat, "where is my order 10002?")
    shown = await rest(stack, chat, "it's under ada@example.com")

    assert "e-mail address or the delivery postcode" in asked
    assert not any(secret in asked for secret in ADA_ORDER_SECRETS), asked
    assert "on its way" in shown and "PP1000200" in shown, shown


async def test_a_wrong_email_is_refused_and_guessing_is_throttled(stack: RunningStack) -> None:
    chat = sender()
    await rest(stack, chat, "where is order 10002")
    # Failed checks are failed attempts: the empathy engine may offer a person in between (it does
    # after two), so the guesses go on until the limit answers rather than a fixed number of times.
    answers = [await rest(stack, chat, f"it's guess{n}@example.com") for n in range(9)]
    # Five failed checks use up the conversation's allowance: even the right e-mail is refused now.
    answers += [await rest(stack, chat, "ada@example.com") for _ in range(3)]

    assert "doesn't match order 10002" in answers[0], answers[0]
    assert any("can't check any more details" in answer for answer in answers[-3:]), answers
    assert not any(secret in " ".join(answers) for secret in ADA_ORDER_SECRETS), answers


async def test_lookups_are_throttled_per_conversation(stack: RunningStack) -> None:
    chat = sender()
    await rest(stack, chat, "where is my order 10001?")
    answers = [await rest(stack, chat, "ada@example.com")]
    answers += [await rest(stack, chat, f"and order {10002 - n % 2}?") for n in range(20)]

    assert "delivered" in answers[0] and "on its way" in answers[1], answers[:2]
    assert "can't check any more details" in answers[-1], answers


async def test_typing_someone_elses_email_and_yes_cancels_nothing(stack: RunningStack) -> None:
    chat = sender()
    await rest(stack, chat, "please cancel my pine+ subscription")
    sent = await rest(stack, chat, "dev@example.com")
    await rest(stack, chat, "yes")

    assert "6-digit code to dev@example.com if it has a Parcelpine account" in sent, sent
    dev = store_of(stack).find_customer("dev@example.com")
    assert dev is not None and dev.subscriptions[0].status == "active"

    # The customer who owns the mailbox can: the code went to the address on file, not to the chat.
    code = latest_code(stack.var_dir, "dev@example.com")
    assert code is not None and code not in sent
    proposed = await rest(stack, chat, f"the code is {code}")
    assert "that's confirmed" in proposed and "Shall I cancel it?" in proposed, proposed
    assert "cancelled" in await rest(stack, chat, "yes please")
    dev = store_of(stack).find_customer("dev@example.com")
    assert dev is not None and dev.subscriptions[0].status == "cancelled"


async def test_a_return_on_a_strangers_order_needs_the_owners_code(stack: RunningStack) -> None:
    chat = sender()
    await rest(stack, chat, "I want to return order 10005")
    answer = await rest(stack, chat, "the postcode is PP3 8JD")

    assert "sent a 6-digit code to the e-mail address on the order" in answer, answer
    order = store_of(stack).find_order("10005")
    assert order is not None and order.refunds == ()


async def test_no_reset_or_unlock_link_without_the_code(stack: RunningStack) -> None:
    chat = sender()
    await rest(stack, chat, "I'm locked out of my account")
    answer = await rest(stack, chat, "cleo@example.com")

    assert "unlock" not in answer and "locked" not in answer, answer
    assert latest_code(stack.var_dir, "cleo@example.com") is not None  # the newest mail is the code


async def test_replies_do_not_tell_which_emails_have_accounts(stack: RunningStack) -> None:
    replies = []
    for email in ("ben@example.com", f"nobody-{uuid.uuid4().hex[:6]}@example.com"):
        chat = sender()
        await rest(stack, chat, "I forgot my password")
        replies.append((await rest(stack, chat, email)).replace(email, "EMAIL"))
        replies.append(await rest(stack, chat, "the code is 000000"))

    assert replies[0] == replies[2] and replies[1] == replies[3], replies


async def test_the_signed_in_demo_customer_sees_her_orders_and_is_not_asked_to_prove_it(
    stack: RunningStack,
) -> None:
    token = sign_identity_token("C-1001", stack.identity_key, phone="+447700900001", email="dana@example.com")
    chat = sender()
    order = await rest(stack, chat, "where is my order 10011?", token)
    cancel = await rest(stack, chat, "cancel my pine+ please", token)
    other = await rest(stack, chat, "and where is order 10002?", token)

    assert "on its way" in order and "walnut photo frame" in order, order
    assert "Shall I cancel it?" in cancel and "e-mail" not in cancel, cancel
    assert not any(secret in other for secret in ADA_ORDER_SECRETS), other
