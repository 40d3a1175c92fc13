"""A notice the handoff service sends into a conversation ends the turn, so the next message is read.

Found by trying it in the web chat: after a wait notice (sent through Rasa's ``/execute``, which
leaves the conversation mid-turn) "stop analysing my emotions" got two fallback replies, was rewound
and never recorded, and ``handoff_status`` was reset while the handoff was still queued.  Here a
customer's handoff is queued, the service tells them about the wait exactly as
handoff/queue/wait_watcher.py does
(``RasaClient.say``), the customer opts out, and the opt-out must hold.  The REST customer's
conversation is ``rest:<sender>`` (handoff/shared/conversation_ids.py).
"""

import sqlite3
import uuid
from typing import Any

import aiohttp
import pytest
import yarl

from handoff.core.rasa_client import RasaClient, conversation_segment
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration


async def rest(stack: RunningStack, sender: str, message: str) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{stack.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": message},
            timeout=aiohttp.ClientTimeout(total=120),
        ) as response,
    ):
        assert response.status == 200
        return " ".join(str(m.get("text", "")) for m in await response.json())


async def tracker(stack: RunningStack, conversation: str) -> dict[str, Any]:
    url = f"{stack.rasa_url}/conversations/{conversation_segment(conversation)}/tracker"
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            yarl.URL(url, encoded=True),
            params={"token": stack.token},
        ) as response,
    ):
        assert response.status == 200
        return dict(await response.json())


async def notice(stack: RunningStack, conversation: str) -> None:
    """What handoff/queue/wait_watcher.py sends a customer who has waited too long."""
    async with aiohttp.ClientSession() as session:
        await RasaClient(session, stack.rasa_url, stack.token).say(
            conversation, "utter_wait_too_long", {"queue_position": "1"}
        )


async def emotion_processing(stack: RunningStack, customer: str) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{stack.handoff_url}/api/v1/customers/{customer}/consent",
            headers={"Authorization": f"Bearer {stack.handoff_token}"},
        ) as response,
    ):
        assert response.status == 200
        return str((await response.json())["emotion_processing"])


def handoff_statuses(stack: RunningStack, conversation: str) -> list[str]:
    with sqlite3.connect(stack.var_dir / "handoff.db") as db:
        rows = db.execute("SELECT status FROM handoffs WHERE conversation_id = ?", (conversation,))
        return [str(row[0]) for row in rows]


def user_events(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in state["events"] if e.get("event") == "user"]


def actions_run(state: dict[str, Any]) -> list[str]:
    return [str(e.get("name")) for e in state["events"] if e.get("event") == "action"]


async def test_an_opt_out_right_after_a_wait_notice_holds(stack: RunningStack) -> None:
    sender = f"notice-{uuid.uuid4().hex}"
    conversation = f"rest:{sender}"
    assert "passed our conversation to the Parcelpine team" in await rest(
        stack, sender, "I want to talk to a real person"
    )
    assert handoff_statuses(stack, conversation) == ["queued"]

    await notice(stack, conversation)
    after_notice = await tracker(stack, conversation)
    assert actions_run(after_notice)[-2:] == ["utter_wait_too_long", "action_listen"]

    reply = await rest(stack, sender, "please stop analysing my emotions")
    assert "won't analyse your mood" in reply
    assert reply.index("won't analyse your mood") > 0  # after the notice it missed (REST cannot push)
    await rest(stack, sender, "this is taking forever and I'm really annoyed")

    state = await tracker(stack, conversation)
    assert "action_default_fallback" not in actions_run(state)  # nothing misread, nothing rewound
    opt_out, annoyed = user_events(state)[-2:]
    assert opt_out["parse_data"]["intent"]["name"] == "opt_out_emotion"
    customer = annoyed["metadata"]["attune"]["customer"]  # who the consent gate says this is
    assert await emotion_processing(stack, customer) == "off"  # recorded, for every channel
    assert annoyed["metadata"]["attune"]["emotion_processing"] == "off"
    assert not (annoyed["parse_data"].get("emotion") or {}).get("probabilities")  # no scores computed
    assert state["slots"]["emotion_opt_out"] is True
    assert state["slots"]["handoff_status"] == "delivered"  # still in the queue, as the service says
    assert handoff_statuses(stack, conversation) == ["queued"]


async def test_a_notice_reaches_a_conversation_whose_id_has_plus_and_colon(stack: RunningStack) -> None:
    # SMS and WhatsApp conversation ids look like this; the id travels percent-encoded.
    sender = f"whatsapp:+4479{uuid.uuid4().int % 10**8:08d}"
    conversation = f"rest:{sender}"  # a REST sender shaped like a number: still the REST channel's
    await rest(stack, sender, "hello")

    await notice(stack, conversation)

    state = await tracker(stack, conversation)
    assert state["sender_id"] == conversation
    assert actions_run(state)[-2:] == ["utter_wait_too_long", "action_listen"]


async def test_an_id_shaped_like_a_path_gets_its_notice_and_no_other_conversation_does(
    stack: RunningStack,
) -> None:
    victim = f"rest:notice-{uuid.uuid4().hex}"
    await rest(stack, victim.removeprefix("rest:"), "hello")
    before = len((await tracker(stack, victim))["events"])

    for sender in (f"x/../../conversations/{victim}", "a?b", "50%", "ñ", "..", f"{victim}/tracker?x="):
        hostile = f"rest:{sender}"  # a REST client may choose any sender
        await notice(stack, hostile)
        assert actions_run(await tracker(stack, hostile))[-2:] == ["utter_wait_too_long", "action_listen"]

    assert len((await tracker(stack, victim))["events"]) == before
