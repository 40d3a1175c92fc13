"""Opting out of emotion analysis follows the customer across channels, and nothing is stored.

A logged-in web chat customer opts out; the same customer then writes angry messages by SMS (the
site's signed identity token told us their number).  No emotion or frustration value of theirs may
appear in the tracker store, the handoff database, the handoff payload or the logs; the tone stays
neutral; an explicit request still reaches a person.  Opting back in by SMS turns scoring on again.
"""

import asyncio
import json
import sqlite3
import time
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import socketio

from handoff.shared.identity_tokens import sign_identity_token
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration

NUMBER = "+447911123888"
ACCOUNT = {"id": "C-7001", "phone": NUMBER}
EMOTIONAL = ('"probabilities"', '"embedding"', '"score"', '"trajectory"')


def rows_for(stack: RunningStack, sender: str) -> list[str]:
    with sqlite3.connect(stack.var_dir / "tracker.db") as db:
        return [str(row[0]) for row in db.execute("SELECT data FROM events WHERE sender_id = ?", (sender,))]


def handoff_rows(stack: RunningStack, conversation: str) -> list[str]:
    with sqlite3.connect(stack.var_dir / "handoff.db") as db:
        return [
            str(r[0])
            for r in db.execute("SELECT payload FROM handoffs WHERE conversation_id = ?", (conversation,))
        ]


async def slots(stack: RunningStack, sender: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{stack.rasa_url}/conversations/{quote(sender, safe='')}/tracker", params={"token": stack.token}
        ) as response,
    ):
        return dict((await response.json())["slots"])


async def test_an_opt_out_on_web_chat_holds_on_sms_and_nothing_emotional_is_stored(
    stack: RunningStack,
) -> None:
    twilio = stack.twilio
    webhook = f"{stack.rasa_url}/webhooks/twilio/webhook"
    conversation = f"sms:{NUMBER}"
    replies: list[str] = []
    client = socketio.AsyncClient()
    client.on("bot_uttered", lambda data: replies.append(str(data.get("text", ""))))
    confirmed = asyncio.Event()
    client.on("session_confirm", lambda _: confirmed.set())
    # The customer is signed in on the site: its server signed their identity token.
    token = sign_identity_token(ACCOUNT["id"], stack.identity_key, phone=ACCOUNT["phone"])
    await client.connect(
        stack.rasa_url, socketio_path="/socket.io", transports=["websocket"], auth={"token": token}
    )
    try:
        await client.emit("session_request", {})
        await asyncio.wait_for(confirmed.wait(), timeout=30)
        await client.emit("user_uttered", {"message": "please stop analysing my mood"})
        deadline = time.monotonic() + 60
        while not any("won't analyse your mood" in r for r in replies):
            assert time.monotonic() < deadline, replies
            await asyncio.sleep(0.05)
    finally:
        await client.disconnect()

    def texts_to_customer() -> list[str]:
        return [m.get("Body", "") for m in twilio.fake.messages if m.get("To") == NUMBER]

    for message in ("THIS IS RIDICULOUS, WHERE IS MY PARCEL?!", "third time asking, useless!!!"):
        assert twilio.run(twilio.fake.send_sms(webhook, NUMBER, message)) == 200
    state = await slots(stack, conversation)
    assert state["emotion_opt_out"] is True and state["tone"] == "neutral"
    assert state["frustration"] is None and state["frustration_trajectory"] in (None, [])

    assert twilio.run(twilio.fake.send_sms(webhook, NUMBER, "human please")) == 200
    stored = handoff_rows(stack, conversation)
    assert len(stored) == 1
    payload = json.loads(stored[0])
    assert payload["emotion_processing"]["enabled"] is False and "trajectory" not in payload

    # The decisions about the SMS conversation (all after the opt-out) are audited without scores.
    with sqlite3.connect(stack.var_dir / "handoff.db") as db:
        theirs = [
            " ".join(map(str, row))
            for row in db.execute("SELECT * FROM audit_entries WHERE conversation_id = ?", (conversation,))
        ]
    assert theirs  # the handoff at least was audited
    everything = [
        *rows_for(stack, conversation),
        *stored,
        *theirs,
        *[line for line in stack.output if NUMBER in line],
    ]
    leaks = [text[:200] for text in everything if any(key in text for key in EMOTIONAL)]
    assert leaks == []

    assert twilio.run(twilio.fake.send_sms(webhook, NUMBER, "you can analyse my mood again")) == 200
    assert twilio.run(twilio.fake.send_sms(webhook, NUMBER, "I'm so fed up with this, honestly")) == 200
    resumed = await slots(stack, conversation)
    # Scored again: the score is in the turn record (issue 18), not a slot of its own.
    assert resumed["emotion_opt_out"] is False and isinstance(resumed["turn_record"]["frustration"], float)
    assert any('"probabilities"' in row for row in rows_for(stack, conversation)[-40:])
    assert texts_to_customer()  # every turn was answered by text
