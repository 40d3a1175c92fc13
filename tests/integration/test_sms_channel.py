"""SMS and WhatsApp end to end: the fake Twilio posts signed webhooks to Rasa, the replies come back to it."""

import asyncio
import sqlite3
import time
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import yarl

from tests.support.stack import RunningStack
from tests.support.twilio_fake import TWILIO_NUMBER

pytestmark = pytest.mark.integration

REPLY_DEADLINE = 60.0


def webhook(stack: RunningStack) -> str:
    return f"{stack.rasa_url}/webhooks/twilio/webhook"


def messages_to(stack: RunningStack, number: str) -> list[dict[str, str]]:
    return [m for m in list(stack.twilio.fake.messages) if m.get("To") == number]


async def replies_to(stack: RunningStack, number: str, containing: str = "") -> list[dict[str, str]]:
    """Messages.json requests to ``number`` once one has ``containing`` in its Body ([] at the deadline)."""
    deadline = time.monotonic() + REPLY_DEADLINE
    while time.monotonic() < deadline:
        sent = messages_to(stack, number)
        if any(containing in reply.get("Body", "") for reply in sent):
            return sent
        await asyncio.sleep(0.2)
    return []


def conversation_url(stack: RunningStack, conversation: str, path: str) -> yarl.URL:
    # Every character encoded, as handoff/core/rasa_client.py sends ids; the Rasa server decodes them
    # (bot/components/conversation_paths.py).
    return yarl.URL(f"{stack.rasa_url}/conversations/{quote(conversation, safe='')}/{path}", encoded=True)


def conversation_of(number: str) -> str:
    """The conversation of a Twilio ``From``: sms:+E164, or whatsapp:+E164 (shared/conversation_ids.py)."""
    return number if number.startswith("whatsapp:") else f"sms:{number}"


async def tracker(stack: RunningStack, sender: str) -> dict[str, Any]:
    url = conversation_url(stack, sender, "tracker")
    async with (
        aiohttp.ClientSession() as session,
        session.get(url.with_query(token=stack.token)) as response,
    ):
        assert response.status == 200, await response.text()
        return dict(await response.json())


async def test_an_sms_is_answered_by_sms_from_the_twilio_number(stack: RunningStack) -> None:
    customer = "+447700900456"

    status = await stack.twilio.fake.send_sms(webhook(stack), customer, "where is my order 10002?")
    replies = await replies_to(stack, customer)

    assert status == 200
    assert replies, "no reply reached Twilio"
    assert {reply["From"] for reply in replies} == {TWILIO_NUMBER}
    assert all(reply["Body"].strip() for reply in replies)
    assert "10002" in " ".join(reply["Body"] for reply in replies)


async def test_the_customers_number_is_the_conversation_id_under_sms(stack: RunningStack) -> None:
    customer = "+447700900457"

    assert await stack.twilio.fake.send_sms(webhook(stack), customer, "where is my order 10001?") == 200

    state = await tracker(stack, f"sms:{customer}")
    assert state["sender_id"] == f"sms:{customer}"
    user_events = [e for e in state["events"] if e["event"] == "user"]
    assert [e["text"] for e in user_events] == ["where is my order 10001?"]
    assert user_events[0]["input_channel"] == "twilio"


@pytest.mark.parametrize("signature", ["", "forged-signature"])
async def test_an_unsigned_or_forged_webhook_gets_403_and_no_reply(
    stack: RunningStack, signature: str
) -> None:
    customer = "+447700900458"

    status = await stack.twilio.fake.send_sms(
        webhook(stack), customer, "where is my order 10002?", signature=signature
    )

    assert status == 403
    # A request the channel accepts is answered before its 200, so nothing can still be on its way.
    assert messages_to(stack, customer) == []


async def test_a_webhook_without_a_body_gets_400(stack: RunningStack) -> None:
    customer = "+447700900459"

    assert await stack.twilio.fake.send_sms(webhook(stack), customer, None) == 400
    assert messages_to(stack, customer) == []


async def test_a_whatsapp_message_is_answered_on_whatsapp(stack: RunningStack) -> None:
    customer = "whatsapp:+447700900123"

    status = await stack.twilio.fake.send_sms(webhook(stack), customer, "where is my order 10002?")
    replies = await replies_to(stack, customer)

    assert status == 200
    assert replies, "no reply reached Twilio"
    assert {reply["From"] for reply in replies} == {"whatsapp:" + TWILIO_NUMBER}
    assert (await tracker(stack, customer))["sender_id"] == customer  # whatsapp:+E164 already


async def test_an_agents_message_during_a_handoff_reaches_the_customer_by_sms(stack: RunningStack) -> None:
    """What the handoff service does to relay an agent's message (handoff/core/rasa_client.py: say)."""
    customer = "+447700900460"
    assert await stack.twilio.fake.send_sms(webhook(stack), customer, "hello") == 200
    text = "I'm looking at your order now."

    async with aiohttp.ClientSession() as session:
        slots = [
            {"event": "slot", "name": "agent_name", "value": "Sam"},
            {"event": "slot", "name": "agent_message", "value": text},
        ]
        conversation = conversation_of(customer)
        events_url = conversation_url(stack, conversation, "tracker/events").with_query(token=stack.token)
        async with session.post(events_url, json=slots) as response:
            assert response.status == 200, await response.text()
        # The conversation's own channel, as handoff/core/rasa_client.py asks (never "latest").
        execute = conversation_url(stack, conversation, "execute").with_query(
            token=stack.token, output_channel="twilio"
        )
        async with session.post(execute, json={"name": "utter_agent_message"}) as response:
            assert response.status == 200, await response.text()

    replies = await replies_to(stack, customer, containing=f"Sam: {text}")
    assert replies, "the agent's message did not reach Twilio"
    assert {reply["From"] for reply in replies} == {TWILIO_NUMBER}


async def test_a_replayed_webhook_is_not_a_new_message_and_sends_no_sms(stack: RunningStack) -> None:
    """Issue 14: a captured, validly signed webhook, sent again, was another message and another SMS."""
    customer = "+447700900461"
    fake = stack.twilio.fake
    assert await fake.send_sms(webhook(stack), customer, "where is my order 10002?") == 200
    replies = len(await replies_to(stack, customer, containing="10002"))

    replays = [await fake.replay() for _ in range(3)]

    assert {status for status, _ in replays} == {200}
    assert all(twiml.endswith("<Response></Response>") for _, twiml in replays)
    state = await tracker(stack, conversation_of(customer))
    assert [e["text"] for e in state["events"] if e["event"] == "user"] == ["where is my order 10002?"]
    assert len(messages_to(stack, customer)) == replies
    # The sid is kept in the tracker store's database, where a restarted Rasa finds it.
    with sqlite3.connect(stack.var_dir / "tracker.db") as db:
        sid = fake.webhooks[-1].params["MessageSid"]
        assert db.execute(
            "SELECT count(*) FROM twilio_inbound_messages WHERE message_sid = ?", (sid,)
        ).fetchone() == (1,)
