"""An SMS or WhatsApp customer and an agent, end to end, through the loopback Twilio and the real client.

Issue 14: an SMS/WhatsApp handoff could never be claimed.  ``utter_agent_joined`` carried the web
chat's ``custom`` data, the Twilio output passed it to ``messages.create(data=...)``, the TypeError
made Rasa's ``/execute`` answer 500 and the console undo the claim, with the conversation left
paused: the customer got "... has joined" by SMS on every attempt, then silence.

Here the customer texts the stack's Twilio webhook (signed by tests/support/twilio_fake.py, as Twilio
signs), asks for a person, and an agent claims in the console (the forms test_browser_handoff.py
clicks), replies, reads the customer's answer and resolves.  Every SMS the stack sends goes
through the production Twilio client to the fake, which records it.
"""

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import pytest

from handoff.core.rasa_client import RasaClient
from handoff.shared.conversation_ids import twilio_conversation
from tests.support.console import csrf, log_in
from tests.support.stack import DEMO_PASSWORD, RunningStack

pytestmark = pytest.mark.integration

DEADLINE = 60.0
AGENT = "agent"  # a demo account (handoff/core/accounts.py), shown to customers as "Alex Agent"
T = TypeVar("T")


def webhook(stack: RunningStack) -> str:
    return f"{stack.rasa_url}/webhooks/twilio/webhook"


def bodies_to(stack: RunningStack, address: str) -> list[str]:
    """The text of every SMS/WhatsApp message the stack sent to ``address``, in order."""
    return [m.get("Body", "") for m in list(stack.twilio.fake.messages) if m.get("To") == address]


async def eventually(check: Callable[[], Awaitable[T | None]], what: str) -> T:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = await check()
        if found is not None:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {what} within {DEADLINE:.0f} s")


async def text(stack: RunningStack, customer: str, body: str) -> None:
    """The customer sends an SMS/WhatsApp message; the webhook answers once the bot has handled it."""
    assert await stack.twilio.fake.send_sms(webhook(stack), customer, body) == 200


async def sent_to(stack: RunningStack, customer: str, containing: str) -> list[str]:
    async def check() -> list[str] | None:
        sent = bodies_to(stack, customer)
        return sent if any(containing in body for body in sent) else None

    return await eventually(check, f"message with {containing!r} to {customer}")


def handoff_id(stack: RunningStack, conversation: str) -> str:
    with sqlite3.connect(stack.var_dir / "handoff.db") as db:
        [(found,)] = db.execute(
            "SELECT id FROM handoffs WHERE conversation_id = ?", (conversation,)
        ).fetchall()
    return str(found)


def handoff_status(stack: RunningStack, conversation: str) -> str:
    with sqlite3.connect(stack.var_dir / "handoff.db") as db:
        [(status,)] = db.execute(
            "SELECT status FROM handoffs WHERE conversation_id = ?", (conversation,)
        ).fetchall()
    return str(status)


class Console:
    """The agent's console session (cookies and the CSRF token of the page it is on)."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.session, self.base, self.token = session, base, token

    async def post(self, handoff: str, action: str, **form: str) -> str:
        """Posts a handoff page's form; the URL it lands on (``?error=`` when the action failed)."""
        async with self.session.post(
            f"{self.base}/console/handoffs/{handoff}/{action}", data={**form, "csrf_token": self.token}
        ) as response:
            assert response.status == 200, await response.text()
            page = await response.text()
            if 'name="csrf_token"' in page:
                self.token = csrf(page)
            return str(response.url)

    async def messages(self, handoff: str) -> dict[str, Any]:
        async with self.session.get(f"{self.base}/console/handoffs/{handoff}/messages") as response:
            assert response.status == 200, await response.text()
            return dict(await response.json())


@pytest.mark.parametrize("number_prefix", ["+44770097", "whatsapp:+44770096"], ids=["sms", "whatsapp"])
async def test_an_agent_claims_talks_with_and_hands_back_a_customer_by_sms(
    stack: RunningStack, number_prefix: str
) -> None:
    customer = f"{number_prefix}{uuid.uuid4().int % 10_000:04d}"  # numbers no other test uses
    conversation = twilio_conversation(customer)  # sms:+E164, or whatsapp:+E164
    await text(stack, customer, "I want to talk to a real person")
    await sent_to(stack, customer, "passed our conversation to the Parcelpine team")
    handoff = handoff_id(stack, conversation)

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        console = Console(session, stack.handoff_url, "")
        console.token = await log_in(session, AGENT, DEMO_PASSWORD, base=stack.handoff_url)

        landed = await console.post(handoff, "claim")
        assert "error=" not in landed, landed
        assert handoff_status(stack, conversation) == "claimed"
        # The notice was sent before the console answered (/execute waits for Twilio).
        assert [b for b in bodies_to(stack, customer) if "has joined" in b] == [
            "Alex Agent from the Parcelpine team has joined the chat and can see everything so far."
        ]

        reply = f"Hi, I'm Alex. Reference {uuid.uuid4().hex[:8]}: your parcel left our depot today."
        assert "error=" not in await console.post(handoff, "reply", text=reply)
        assert bodies_to(stack, customer).count(f"Alex Agent: {reply}") == 1

        sent_before = len(bodies_to(stack, customer))
        answer = f"thanks! ref {uuid.uuid4().hex[:6]}"
        await text(stack, customer, answer)
        view = await console.messages(handoff)
        assert view["status"] == "claimed"
        assert answer in [m["text"] for m in view["messages"] if m["speaker"] == "customer"]
        assert len(bodies_to(stack, customer)) == sent_before  # the bot stays quiet while paused

        assert "error=" not in await console.post(handoff, "resolve", disposition="solved")
    assert handoff_status(stack, conversation) == "resolved"
    assert [b for b in bodies_to(stack, customer) if "back with Pip" in b] == [
        "You're back with Pip, Parcelpine's assistant. Is there anything else I can help with?"
    ]
    assert [b for b in bodies_to(stack, customer) if "has joined" in b] == [
        "Alex Agent from the Parcelpine team has joined the chat and can see everything so far."
    ]

    sent_before = len(bodies_to(stack, customer))
    await text(stack, customer, "hello")
    assert len(bodies_to(stack, customer)) > sent_before  # the bot answers again


async def test_a_handoff_notice_to_an_sms_conversation_never_fails_rasas_execute(stack: RunningStack) -> None:
    """What the handoff service calls for a claim (handoff/core/rasa_client.py ``say``), straight to Rasa."""
    customer = f"+44770095{uuid.uuid4().int % 10_000:04d}"
    await text(stack, customer, "hello")
    async with aiohttp.ClientSession() as session:
        rasa = RasaClient(session, stack.rasa_url, stack.token)
        # Each raised RasaUnavailable on the 500.
        await rasa.say(f"sms:{customer}", "utter_agent_joined", {"agent_name": "Sam"})
        await rasa.say(f"sms:{customer}", "utter_handback")

    sent = bodies_to(stack, customer)
    assert sum("Sam from the Parcelpine team has joined" in b for b in sent) == 1
    assert sum("back with Pip" in b for b in sent) == 1
