"""Issue 16, languages the models do not read, against a running stack (REST, the real NLU).

"¿Dónde está mi pedido 10002?" used to get "What would you like me to do with that?", and "Hallo, wo
ist meine Bestellung 10004?" "That's outside what I can help with".  Now the customer hears honestly,
in their language and in English, what the bot can do; the order number is still used (an anonymous
customer is asked for the order's e-mail or postcode); no emotion is read; and the second such
message brings the offer of a person.  The unit tests are tests/bot/test_language_detector.py and
tests/actions/test_languages.py.
"""

import uuid
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from tests.support.rest_chat import rest, texts
from tests.support.stack import RunningStack

pytestmark = pytest.mark.integration

SPANISH = "Lo siento, por ahora solo leo inglés"
GERMAN = "Entschuldigung, ich kann bisher nur Englisch lesen"
ENGLISH = "Sorry, I can only read English so far"
PROOF = "e-mail address or the delivery postcode on order"


def chat() -> str:
    return f"languages-{uuid.uuid4().hex[:12]}"


async def say(stack: RunningStack, sender: str, text: str) -> list[dict[str, Any]]:
    status, replies = await rest(stack, text, sender)
    assert status == 200, replies
    return list(replies)


async def latest_message(stack: RunningStack, sender: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            # The REST channel keeps each sender's conversation under "rest:<sender>".
            f"{stack.rasa_url}/conversations/{quote('rest:' + sender, safe='')}/tracker",
            params={"token": stack.token},
            timeout=aiohttp.ClientTimeout(total=30),
        ) as response,
    ):
        assert response.status == 200, await response.text()
        tracker = await response.json()
    return dict(tracker["latest_message"])


async def test_spanish_gets_an_honest_answer_and_the_order_is_still_looked_up(stack: RunningStack) -> None:
    sender = chat()
    reply = texts(await say(stack, sender, "¿Dónde está mi pedido 10002?"))

    assert SPANISH in reply and ENGLISH in reply, reply
    # The order number is used: an anonymous customer is asked, honestly, for proof it is theirs.
    assert PROOF in reply and "10002" in reply, reply
    latest = await latest_message(stack, sender)
    assert latest["language"]["code"] == "es"
    assert latest["language"]["supported"] is False
    assert latest["intent"]["name"] == "unsupported_language"
    assert "probabilities" not in latest["emotion"] and "does not read" in latest["emotion"]["skipped"]

    shown = texts(await say(stack, sender, "ada@example.com"))
    assert "on its way" in shown and "PP1000200" in shown, shown


async def test_german_gets_an_honest_answer_and_the_order_is_still_looked_up(stack: RunningStack) -> None:
    sender = chat()
    reply = texts(await say(stack, sender, "Hallo, wo ist meine Bestellung 10004?"))

    assert GERMAN in reply and ENGLISH in reply, reply
    assert PROOF in reply and "10004" in reply, reply
    assert "outside what I can help with" not in reply
    assert (await latest_message(stack, sender))["language"]["code"] == "de"


async def test_a_second_message_in_another_language_offers_a_person(stack: RunningStack) -> None:
    sender = chat()
    first = await say(stack, sender, "¿Dónde está mi pedido 10002?")
    second = await say(stack, sender, "No entiendo, necesito ayuda con mi pedido")

    assert "¿Quiere que le pase con una persona" not in texts(first)
    assert SPANISH in texts(second)
    assert "¿Quiere que le pase con una persona" in texts(second), texts(second)
    buttons = [b["payload"] for reply in second for b in reply.get("buttons") or []]
    assert buttons == ["/affirm", "/deny"]

    handed = texts(await say(stack, sender, "sí"))
    assert "Parcelpine team" in handed, handed


async def test_english_payloads_and_numbers_are_read_as_before(stack: RunningStack) -> None:
    sender = chat()
    for text in ("where is my order 10002", "10002", "/affirm"):
        reply = texts(await say(stack, sender, text))
        assert ENGLISH not in reply, (text, reply)
        assert (await latest_message(stack, sender)).get("language", {}).get("supported", True) is True
