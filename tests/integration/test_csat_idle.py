"""The idle CSAT trigger end to end on the Rasa side: an SMS customer who left "anything else?"
unanswered gets the CSAT question when the handoff service triggers ``EXTERNAL_csat_idle`` (what
handoff/analytics/idle_worker.py calls, here called directly), and a second trigger asks nothing.

The worker's clock, claims and retries are tested against a fake Rasa in
tests/handoff/analytics/test_idle_csat.py; this checks the real Rasa, rule, form and action server.
"""

import asyncio
import time
import uuid

import aiohttp
import pytest

from handoff.core.rasa_client import RasaClient
from handoff.shared.conversation_ids import twilio_conversation
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration

QUESTION = "how happy are you with the help you got today?"
DEADLINE = 60.0


def bodies_to(stack: RunningStack, address: str) -> list[str]:
    """The text of every SMS the stack sent to ``address``, in order."""
    return [m.get("Body", "") for m in list(stack.twilio.fake.messages) if m.get("To") == address]


async def text(stack: RunningStack, customer: str, body: str) -> None:
    """The customer texts the stack's Twilio webhook; it answers once the bot has handled the message."""
    assert (
        await stack.twilio.fake.send_sms(f"{stack.rasa_url}/webhooks/twilio/webhook", customer, body) == 200
    )


async def sent_to(stack: RunningStack, customer: str, containing: str) -> list[str]:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        sent = bodies_to(stack, customer)
        if any(containing in body for body in sent):
            return sent
        await asyncio.sleep(0.2)
    raise AssertionError(f"no message with {containing!r} to {customer} within {DEADLINE:.0f} s")


async def test_silence_after_anything_else_brings_the_question_once(stack: RunningStack) -> None:
    customer = f"+44770094{uuid.uuid4().int % 10_000:04d}"  # a number no other test uses
    conversation = twilio_conversation(customer)
    await text(stack, customer, "thank you so much")
    await sent_to(stack, customer, "Anything else I can help with?")

    async with aiohttp.ClientSession() as session:
        rasa = RasaClient(session, stack.rasa_url, stack.token)
        await rasa.trigger_intent(conversation, "EXTERNAL_csat_idle")
        asked = await sent_to(stack, customer, QUESTION)
        await text(stack, customer, "4")
        await sent_to(stack, customer, "anything you'd like to add?")
        await text(stack, customer, "skip")
        answered = len(bodies_to(stack, customer))

        # Within the suppression period the trigger asks nothing, and says nothing either.
        await rasa.trigger_intent(conversation, "EXTERNAL_csat_idle")
        async with session.get(
            f"{stack.rasa_url}/conversations/{conversation}/tracker", params={"token": stack.token}
        ) as response:
            events = (await response.json())["events"]

    sent = bodies_to(stack, customer)
    assert sum(QUESTION in body for body in sent) == 1
    assert len(sent) == answered, sent[answered - 2 :]  # neither asked again nor a "didn't catch that"
    assert sum(QUESTION in body for body in asked) == 1
    # The trigger is no customer turn: analytics gets no turn record for it.
    records = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == "turn_record"]
    assert records and all(r["intent"] != "EXTERNAL_csat_idle" for r in records)
