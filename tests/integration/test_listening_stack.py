"""Issue 16 over REST against the running stack: conversations that listen.

Each case of the issue's "Why" (the customer's side) that this part covers, with what the customer
is told; the dialogue predictions are also in tests/test_listening_conversations.yml.
"""

import uuid
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from tests.support.rest_chat import rest, texts
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration

STALE_TRANSFER = "can't transfer chats to a person"
NOT_UNDERSTOOD = ("didn't quite get that", "didn't understand that", "didn't quite catch that")
PRIVACY = "Here's what I hold in this conversation"


async def tracker(stack: RunningStack, sender: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{stack.rasa_url}/conversations/{quote('rest:' + sender, safe='')}/tracker",
            params={"token": stack.token},
        ) as response,
    ):
        assert response.status == 200
        return dict(await response.json())


async def say(stack: RunningStack, sender: str, text: str) -> list[dict[str, Any]]:
    status, replies = await rest(stack, text, sender)
    assert status == 200
    return list(replies)


def once_each(replies: list[dict[str, Any]]) -> None:
    said = [reply.get("text") for reply in replies]
    assert len(said) == len(set(said)), said


async def test_great_just_great_after_a_delay_is_heard_as_sarcasm(stack: RunningStack) -> None:
    sender = uuid.uuid4().hex
    await say(stack, sender, "where is order 10003?")
    delayed = await say(stack, sender, "PP2 7QS")
    assert "delayed" in texts(delayed)

    replies = await say(stack, sender, "great, just great")

    latest = (await tracker(stack, sender))["latest_message"]
    assert latest["intent"]["name"] == "complain"
    assert latest["emotion"]["cues"]["sarcasm"] == 1.0
    assert not any(phrase in texts(replies) for phrase in NOT_UNDERSTOOD)
    assert "sorry" in texts(replies).lower()
    once_each(replies)


async def test_are_you_a_bot_is_answered_truthfully(stack: RunningStack) -> None:
    replies = await say(stack, uuid.uuid4().hex, "are you a bot?")

    assert "not a person" in texts(replies) and STALE_TRANSFER not in texts(replies)


async def test_a_shop_question_the_bot_cannot_answer_is_not_given_a_privacy_statement(
    stack: RunningStack,
) -> None:
    replies = await say(stack, uuid.uuid4().hex, "do you offer gift wrapping?")

    assert PRIVACY not in texts(replies)
    assert "outside what I can help with" in texts(replies) or any(
        p in texts(replies) for p in NOT_UNDERSTOOD
    )


async def test_a_typo_ridden_order_question_goes_straight_to_the_order(stack: RunningStack) -> None:
    replies = await say(stack, uuid.uuid4().hex, "wher is my ordr 10003 pls")

    # Anonymous: the honest verification step for that order, and no question about what it is for.
    assert "order 10003" in texts(replies) and "e-mail address or the delivery postcode" in texts(replies)
    assert "What would you like me to do with that" not in texts(replies)
    assert "What's the order number" not in texts(replies)


async def test_an_angry_rant_naming_an_order_and_a_refund_gets_that_order_answered(
    stack: RunningStack,
) -> None:
    rant = (
        "This is the THIRD time I'm writing to you people. Order 10004 never came, nobody answers my "
        "emails, it's an absolute joke and I want my money back NOW!!!"
    )
    replies = await say(stack, uuid.uuid4().hex, rant)

    assert "order 10004" in texts(replies)  # the order is answered (its verification step) ...
    assert len(replies) >= 1 and not texts(replies).startswith("This needs a person")  # ... not only an offer
    once_each(replies)


async def test_a_stale_button_payload_gets_one_honest_reply_each_time(stack: RunningStack) -> None:
    sender = uuid.uuid4().hex
    for _ in range(2):
        replies = await say(stack, sender, "/affirm")
        assert len(replies) == 1, replies
        assert "that question has passed" in texts(replies)


async def test_hardship_in_words_is_heard_for_a_customer_who_opted_out(stack: RunningStack) -> None:
    sender = uuid.uuid4().hex
    await say(stack, sender, "stop analysing my mood")

    replies = await say(stack, sender, "I'm scared, I can't afford this, my rent is due")

    state = await tracker(stack, sender)
    assert "call you back" in texts(replies) and "bring someone into this chat" in texts(replies)
    assert "bad experience" not in texts(replies)
    assert [b["payload"] for b in replies[-1]["buttons"]] == ["/request_callback", "/request_human", "/deny"]
    # The opt-out holds: no scores, no tone, a turn record that says so (and has no scores).
    slots = state["slots"]
    assert slots["emotion_opt_out"] is True
    assert slots["frustration"] is None and slots["distress"] is None and slots["tone"] == "neutral"
    assert slots["turn_record"]["emotion_processing"] == "off"
    assert not {"frustration", "distress", "signals"} & set(slots["turn_record"])

    booked = await say(stack, sender, "/request_callback")
    assert "What number should we call?" in texts(booked)


DISTRESS = "please help, I'm scared, my insulin was in that parcel and it hasn't come"


async def test_no_to_the_call_and_yes_to_a_person_in_one_message_gets_a_person(stack: RunningStack) -> None:
    sender = uuid.uuid4().hex
    offer = await say(stack, sender, DISTRESS)
    assert "call you back" in texts(offer)

    replies = await say(stack, sender, "no, don't call me, just get me a person")

    assert "What number should we call?" not in texts(replies)
    assert "passed our conversation to the Parcelpine team" in texts(replies)
    once_each(replies)
    assert (await tracker(stack, sender))["active_loop"] in ({}, None, {"name": None})


@pytest.mark.parametrize(
    ("steps", "at"),
    [
        ([], "number"),
        (["07911 123456"], "time"),
        (["07911 123456", "Now"], "consent"),
    ],
)
async def test_asking_for_a_person_at_any_step_of_the_call_back_form_gets_a_person(
    stack: RunningStack, steps: list[str], at: str
) -> None:
    sender = uuid.uuid4().hex
    await say(stack, sender, "can someone call me back about this")
    for step in steps:
        await say(stack, sender, step)

    replies = await say(stack, sender, "actually no call, I want to talk to a person")

    assert "passed our conversation to the Parcelpine team" in texts(replies), at
    assert not any(q in texts(replies) for q in ("What number", "When suits you", "To confirm")), at
    once_each(replies)
