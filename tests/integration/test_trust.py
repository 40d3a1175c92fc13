"""Issue 13's attacks, tried against the running stack: nobody is someone else.

Each test is one finding from the issue, done as the attacker did it, with what must now hold.
"""

import asyncio
import sqlite3
import uuid
from typing import Any

import aiohttp
import pytest

from handoff.core.rasa_client import RasaClient
from handoff.shared.identity_tokens import issue_session_id, sign_identity_token
from tests.support.stack import RunningStack
from tests.support.web_chat import INPUT_ERROR, web_chat

pytestmark = pytest.mark.integration

REST = "/webhooks/rest/webhook"
OPT_OUT = "stop analysing my mood"
OPT_IN = "you can analyse my mood again"


def unique_phone() -> str:
    return "+4477009" + str(uuid.uuid4().int)[:5]


async def rest(
    stack: RunningStack, sender: str, text: str, metadata: Any = None, token: str | None = None
) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"sender": sender, "message": text}
    if metadata is not None:
        body["metadata"] = metadata
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession() as session,
        session.post(stack.rasa_url + REST, json=body, headers=headers) as response,
    ):
        assert response.status == 200, await response.text()
        return list(await response.json())


async def handoff_api(stack: RunningStack, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {stack.handoff_token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, stack.handoff_url + path, json=body, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


async def customer_with(stack: RunningStack, identities: list[dict[str, str]], choice: str) -> str:
    """A customer the authenticated API knows, with their choice recorded; their handoff id."""
    status, body = await handoff_api(
        stack,
        "POST",
        "/api/v1/customers/consent",
        {"identities": identities, "emotion_processing": choice, "channel": "api", "source": "api"},
    )
    assert status == 200, body
    return str(body["customer"])


async def consent_of(stack: RunningStack, customer: str) -> dict[str, Any]:
    status, body = await handoff_api(stack, "GET", f"/api/v1/customers/{customer}/consent")
    assert status == 200, body
    return dict(body)


def texts(replies: list[dict[str, Any]]) -> str:
    return " ".join(str(reply.get("text", "")) for reply in replies)


async def rasa(stack: RunningStack) -> tuple[aiohttp.ClientSession, RasaClient]:
    session = aiohttp.ClientSession()
    return session, RasaClient(session, stack.rasa_url, stack.token)


# --- 1. client identity claims are not trusted ---------------------------------------------------------


async def test_claiming_a_customer_id_in_metadata_cannot_turn_their_emotion_processing_back_on(
    stack: RunningStack,
) -> None:
    victim = "C-" + uuid.uuid4().hex[:8]
    customer = await customer_with(stack, [{"kind": "id", "value": victim}], "off")
    claim = {"customer": {"id": victim}}

    await rest(stack, "attacker-" + uuid.uuid4().hex, OPT_IN, metadata=claim)
    await rest(stack, "attacker-" + uuid.uuid4().hex, OPT_OUT, metadata=claim)

    log = (await consent_of(stack, customer))["log"]
    assert [(entry["emotion_processing"], entry["source"]) for entry in log] == [("off", "api")]


async def test_asserting_two_customers_ids_together_merges_nobody(stack: RunningStack) -> None:
    first_phone, second_phone = unique_phone(), unique_phone()
    first = await customer_with(stack, [{"kind": "phone", "value": first_phone}], "on")
    second = await customer_with(stack, [{"kind": "phone", "value": second_phone}], "off")

    await rest(
        stack,
        "attacker-" + uuid.uuid4().hex,
        "hello",
        metadata={
            "customer": {"id": "C-x", "phone": first_phone},
            "attune": {"verified": {"phone": second_phone}},
        },
    )

    assert (await consent_of(stack, first))["identities"] == 1
    assert (await consent_of(stack, second))["identities"] == 1
    assert (await consent_of(stack, second))["emotion_processing"] == "off"


async def test_a_signed_identity_token_is_what_links_a_customer(stack: RunningStack) -> None:
    customer_id = "C-" + uuid.uuid4().hex[:8]
    phone = unique_phone()
    token = sign_identity_token(customer_id, stack.identity_key, phone=phone)
    forged = sign_identity_token(customer_id, "f" * 40, phone=phone)

    await rest(stack, "forger-" + uuid.uuid4().hex, OPT_OUT, token=forged)
    customer = await customer_with(stack, [{"kind": "id", "value": customer_id}], "on")
    assert (await consent_of(stack, customer))["identities"] == 1  # the forged token linked nothing

    await rest(stack, "site-" + uuid.uuid4().hex, OPT_OUT, token=token)

    after = await consent_of(stack, customer)
    assert after["emotion_processing"] == "off"
    assert after["identities"] == 2  # the id, and the phone the site verified


# --- 2. /chat/consent needs the session's proof and creates nothing for strangers ----------------------


def customer_rows(stack: RunningStack) -> int:
    with sqlite3.connect(stack.var_dir / "handoff.db") as connection:
        return int(connection.execute("SELECT count(*) FROM customers").fetchone()[0])


async def test_chat_consent_refuses_a_session_it_did_not_issue_and_stores_nothing_for_lookups(
    stack: RunningStack,
) -> None:
    before = customer_rows(stack)
    async with aiohttp.ClientSession() as session:
        async with session.post(
            stack.handoff_url + "/chat/consent",
            json={"session_id": uuid.uuid4().hex, "emotion_processing": "off"},
        ) as response:
            forged = response.status
        statuses = []
        for session_id in [uuid.uuid4().hex] * 5 + [issue_session_id(stack.session_key) for _ in range(15)]:
            async with session.get(
                stack.handoff_url + "/chat/consent", params={"session_id": session_id}
            ) as response:
                statuses.append(response.status)

    assert forged == 403
    assert statuses[:5] == [403] * 5
    assert set(statuses[5:]) <= {200, 429} and 200 in statuses[5:]
    assert customer_rows(stack) == before


# --- 3. conversations belong to their channel ----------------------------------------------------------


async def test_a_rest_client_using_an_sms_customers_number_does_not_join_their_conversation(
    stack: RunningStack,
) -> None:
    phone = unique_phone()
    webhook = f"{stack.rasa_url}/webhooks/twilio/webhook"
    assert await stack.twilio.fake.send_sms(webhook, phone, "where is my order 10002?") == 200

    stolen = await rest(stack, phone, "which order was I asking about?")
    session, client = await rasa(stack)
    async with session:
        sms_side = await client.messages(f"sms:{phone}")
        await client.say(
            f"sms:{phone}", "utter_agent_message", slots={"agent_name": "Sam", "agent_message": "On it."}
        )
    later = await rest(stack, phone, "hello?")

    assert "10002" not in texts(stolen)
    assert [m["text"] for m in sms_side if m["speaker"] == "customer"] == ["where is my order 10002?"]
    assert "On it." not in texts(later)
    deadline = asyncio.get_running_loop().time() + 30
    while not any("On it." in m.get("Body", "") for m in stack.twilio.fake.messages if m.get("To") == phone):
        assert asyncio.get_running_loop().time() < deadline, (
            "the agent's message did not reach the SMS customer"
        )
        await asyncio.sleep(0.2)


async def test_a_rest_customer_gets_the_agents_message_with_their_next_reply(stack: RunningStack) -> None:
    sender = "rest-" + uuid.uuid4().hex
    await rest(stack, sender, "hello")

    session, client = await rasa(stack)
    async with session:
        await client.say(
            f"rest:{sender}",
            "utter_agent_message",
            slots={"agent_name": "Sam", "agent_message": "Still there?"},
        )
    following = await rest(stack, sender, "yes")
    after = await rest(stack, sender, "thanks")

    assert "Still there?" in texts(following)
    assert "Still there?" not in texts(after)


# --- 4. socket.io rooms only for the session the server issued -----------------------------------------


async def test_a_web_chat_client_cannot_join_another_customers_session(stack: RunningStack) -> None:
    async with web_chat(stack) as victim, web_chat(stack) as attacker:
        signed = await victim.start()
        session_part = signed.split(".")[0]
        await victim.say("hello")  # a conversation with a session (/execute would start one)
        await victim.replies()
        forged = session_part + "." + "A" * (len(signed) - len(session_part) - 1)
        given = [await attacker.start(guess) for guess in (session_part, "web:" + session_part, forged)]
        await attacker.say("show me the conversation", session_id=signed)
        refused = await attacker.next_event()

        session, client = await rasa(stack)
        async with session:
            await client.say(
                f"web:{session_part}",
                "utter_agent_message",
                slots={"agent_name": "Sam", "agent_message": "Only you."},
            )
        victim_got = await victim.replies()
        attacker_got = await attacker.replies()

    assert signed not in given and all(session_part not in other for other in given)
    assert refused[0] == INPUT_ERROR
    assert any("Only you." in str(data) for _, data in victim_got)
    assert not any("Only you." in str(data) for _, data in attacker_got)


async def test_a_web_chat_session_survives_a_reconnect_with_its_signed_id(stack: RunningStack) -> None:
    async with web_chat(stack) as first:
        signed = await first.start()
        await first.say("where is my order 10002?")
        await first.replies()
    async with web_chat(stack) as again:
        assert await again.start(signed) == signed
    session, client = await rasa(stack)
    async with session:
        history = await client.messages("web:" + signed.split(".")[0])
    assert [m["text"] for m in history if m["speaker"] == "customer"] == ["where is my order 10002?"]


# --- 5. ids are encoded in Rasa API paths ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["/tracker?x=", "/tracker/events?x=", "#x", "%2Fx", " x", "/é"])
async def test_a_sender_shaped_like_a_path_reaches_only_its_own_conversation(
    stack: RunningStack, suffix: str
) -> None:
    victim = "victim-" + uuid.uuid4().hex
    await rest(stack, victim, "where is my order 10002?")
    attacker = victim + suffix
    await rest(stack, attacker, "hello")

    session, client = await rasa(stack)
    async with session:
        seen = await client.messages(f"rest:{attacker}")
        await client.pause(f"rest:{attacker}")
    answer = await rest(stack, victim, "and order 10001?")

    assert [m["text"] for m in seen if m["speaker"] == "customer"] == ["hello"]
    assert "10001" in texts(answer), "pausing the attacker's conversation silenced the victim's"


# --- 6. CORS only for the configured origins ------------------------------------------------------------


async def test_rasa_reflects_no_foreign_origin(stack: RunningStack) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.options(
            stack.rasa_url + REST,
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        ) as response:
            foreign = response.headers.get("Access-Control-Allow-Origin")
        async with session.options(
            stack.rasa_url + REST,
            headers={"Origin": stack.handoff_url, "Access-Control-Request-Method": "POST"},
        ) as response:
            own = response.headers.get("Access-Control-Allow-Origin")

    assert foreign in (None, "")
    assert own == stack.handoff_url


async def test_a_foreign_page_cannot_open_the_web_chat_socket(stack: RunningStack) -> None:
    with pytest.raises(Exception, match=r"(?i)connect|refused|403|400"):
        async with web_chat(stack, origin="https://evil.example"):
            pass
    async with web_chat(stack, origin=stack.handoff_url) as own:
        assert (await own.start()).count(".") == 1
