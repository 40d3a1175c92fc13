"""Call-backs end to end: the conversation books it, the handoff service places it with the real
twilio client against the loopback fake, and Twilio's signed status callbacks reach the console.

The stack's Twilio is tests/support/twilio_fake.py (the twilio fixture in conftest.py); call-back hours
are "always open".
"""

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.browser import SCREENSHOTS
from tests.support.stack import DEMO_PASSWORD, RunningStack
from tests.support.twilio_fake import TWILIO_NUMBER
from tests.support.web_chat import ChatCustomer, wait_for

pytestmark = pytest.mark.integration

ARTIFACTS = SCREENSHOTS  # one folder of browser artifacts (tests/support/browser.py)
DISTRESS = "please help, I'm scared, my insulin was in that parcel and it hasn't come"


async def handoff_for(stack: RunningStack, conversation_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {stack.handoff_token}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(f"{stack.handoff_url}/api/v1/handoffs", params={"limit": "1000"}) as response:
            queue = (await response.json())["handoffs"]
        match = next(h for h in queue if h["conversation_id"] == conversation_id)
        async with session.get(f"{stack.handoff_url}/api/v1/handoffs/{match['id']}") as response:
            return dict(await response.json())


async def console_calls(stack: RunningStack, handoff_id: str) -> list[dict[str, Any]]:
    """The call-backs as an agent's console sees them (the handoff page polls this)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(f"{stack.handoff_url}/console/login") as response:
            token = re.search(r'name="csrf_token" value="([^"]+)"', await response.text())
        assert token is not None
        form = {"username": "agent", "password": DEMO_PASSWORD, "csrf_token": token.group(1)}
        async with session.post(f"{stack.handoff_url}/console/login", data=form) as response:
            assert response.status == 200, await response.text()
        async with session.get(f"{stack.handoff_url}/console/handoffs/{handoff_id}/calls") as response:
            assert response.status == 200
            return list((await response.json())["calls"])


async def test_a_distressed_web_chat_customer_books_a_call_back_that_is_placed_once_and_tracked(
    stack: RunningStack,
) -> None:
    twilio = stack.twilio
    calls_before = len(twilio.fake.created_calls)
    async with ChatCustomer(stack) as chat:
        await chat.say(DISTRESS, "call you back by phone")
        await chat.say("yes please", "What number should we call?")
        await chat.say("it's 07911 123456", "When suits you?")
        await chat.say("Now", "To confirm")
        said_yes = time.monotonic()
        await chat.say("yes", "We're calling you now")
        await wait_for(lambda: len(twilio.fake.created_calls) > calls_before)
        yes_to_request = time.monotonic() - said_yes

    created = twilio.fake.created_calls[calls_before:]
    assert len(created) == 1
    sid, form = created[0]
    handoff = await handoff_for(stack, chat.conversation_id)
    job_url = re.fullmatch(rf"{stack.handoff_url}/twilio/twiml/([0-9a-f-]+)", form["Url"])
    assert job_url is not None
    assert (form["To"], form["From"]) == ("+447911123456", TWILIO_NUMBER)
    assert form["StatusCallback"] == f"{stack.handoff_url}/twilio/status/{job_url.group(1)}"
    assert handoff["reason"] == "distress" and handoff["priority"] in ("high", "urgent")
    assert handoff["payload"]["callback"]["phone_masked"] == "••••56"
    assert "+447911123456" not in json.dumps(handoff["payload"])  # the number lives with the call job only

    code, twiml = twilio.run(twilio.fake.fetch_twiml(sid))
    assert code == 200 and "<Say>" in twiml
    assert twilio.run(twilio.fake.send_status_forged(sid, "failed")) == 403
    for status in ("initiated", "ringing", "in-progress", "completed"):
        assert twilio.run(twilio.fake.send_status(sid, status)) in (200, 204)

    calls = await console_calls(stack, handoff["id"])
    assert [(c["status"], c["attempts"], c["to"]) for c in calls] == [("completed", 1, "••••56")]
    assert [step["status"] for step in calls[0]["trail"]][-2:] == ["in-progress", "completed"]
    await asyncio.sleep(3)  # longer than a worker pass: nothing places the call again
    assert len(twilio.fake.created_calls) == calls_before + 1

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    Path(ARTIFACTS / "callback-latency.json").write_text(
        json.dumps({"yes_to_call_request_seconds": round(yes_to_request, 3)}) + "\n"
    )
    print(f"customer's yes -> call request: {yes_to_request * 1000:.0f} ms")


async def test_an_unanswered_sms_customer_is_called_once_more_then_told_by_text(stack: RunningStack) -> None:
    twilio = stack.twilio
    webhook = f"{stack.rasa_url}/webhooks/twilio/webhook"
    number = "+447911123999"
    calls_before = len(twilio.fake.created_calls)

    def texts_to_customer() -> list[str]:
        return [m.get("Body", "") for m in twilio.fake.messages if m.get("To") == number]

    async def sms(body: str, expect: str) -> None:
        seen = len(texts_to_customer())
        assert twilio.run(twilio.fake.send_sms(webhook, number, body)) == 200
        replies = " ".join(texts_to_customer()[seen:])
        assert expect in replies, replies

    await sms("can someone call me back please", "(••••99)")
    await sms("yes", "When suits you?")
    await sms("1", "To confirm")
    await sms("yes", "We're calling you now")

    def calls_to_customer() -> list[tuple[str, dict[str, str]]]:
        return [c for c in twilio.fake.created_calls[calls_before:] if c[1]["To"] == number]

    first = (await wait_for(calls_to_customer))[0][0]
    assert twilio.run(twilio.fake.send_status(first, "no-answer")) in (200, 204)
    retry = await wait_for(lambda: calls_to_customer()[1:], timeout=20)
    assert twilio.run(twilio.fake.send_status(retry[0][0], "no-answer")) in (200, 204)

    missed = await wait_for(
        lambda: [t for t in texts_to_customer() if "tried to call you twice" in t], timeout=20
    )
    await asyncio.sleep(5)  # two retry delays and more: still exactly one retry
    assert len(calls_to_customer()) == 2 and len(missed) == 1
