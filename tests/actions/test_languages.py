"""action_answer_other_language and the empathy engine on messages in a language the models do not read."""

from typing import Any

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.empathy_tracking import ActionTrackEmpathy
from actions.languages import ActionAnswerOtherLanguage, localised, unread_messages
from actions.store.gateway import DemoStore
from tests.support.demo_store import TODAY
from tests.support.trackers import message, tracker

DOMAIN = {
    "responses": {
        name: [{"text": name}]
        for name in (
            "utter_other_language",
            "utter_other_language_es",
            "utter_other_language_de",
            "utter_other_language_offer_human",
            "utter_other_language_offer_human_es",
        )
    }
}
ORDER = {"entity": "order_id", "value": "10002"}
# Who the Rasa server verified (bot/components/verified_identity.py): Ada, who owns order 10002.
ADA = {"attune": {"verified": {"id": "C-1002"}}}


def foreign(
    text: str,
    code: str = "es",
    entities: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
    timestamp: float = 0.0,
) -> dict[str, Any]:
    """A user event as Rasa records it for a message in a language the models do not read."""
    return {
        "event": "user",
        "text": text,
        "timestamp": timestamp,
        "parse_data": {
            "intent": {"name": "unsupported_language", "confidence": 0.95},
            "entities": entities or [],
            "language": {"code": code, "supported": False, "confidence": 0.95, "reason": "detected"},
            "emotion": {"skipped": f"the message is in a language the emotion model does not read ({code})"},
        },
    } | ({"metadata": metadata} if metadata else {})


async def answer(store: DemoStore, slots: dict[str, Any], events: list[dict[str, Any]]) -> tuple[list, list]:
    dispatcher = CollectingDispatcher()
    action = ActionAnswerOtherLanguage(store=lambda: store, today=lambda: TODAY)
    result = await action.run(dispatcher, tracker(slots, events), DOMAIN)
    return result, [m["response"] for m in dispatcher.messages]


async def test_the_answer_is_honest_in_spanish_and_the_order_number_is_still_looked_up(
    store: DemoStore,
) -> None:
    events, said = await answer(
        store,
        {"order_id": "10002"},
        [foreign("¿Dónde está mi pedido 10002?", entities=[ORDER], metadata=ADA)],
    )

    assert said == ["utter_other_language_es", "utter_order_in_transit"]
    assert SlotSet("topic", "order_status") in events
    assert SlotSet("last_outcome", "in_transit") in events


async def test_an_anonymous_customer_is_asked_for_proof_after_the_honest_answer(store: DemoStore) -> None:
    events, said = await answer(
        store, {"order_id": "10004"}, [foreign("Hallo, wo ist meine Bestellung 10004?", "de", [ORDER])]
    )

    assert said == ["utter_other_language_de", "utter_ask_order_proof"]
    assert SlotSet("verification_pending", True) in events


async def test_the_second_message_in_another_language_brings_the_offer_of_a_person(store: DemoStore) -> None:
    history = [foreign("¿Dónde está mi pedido?"), {"event": "bot", "text": "..."}]

    events, said = await answer(store, {}, [*history, foreign("no entiendo nada")])

    assert said == ["utter_other_language_es", "utter_other_language_offer_human_es"]
    assert events == []


async def test_a_language_without_words_in_the_domain_gets_the_english_answer(store: DemoStore) -> None:
    _, said = await answer(store, {}, [foreign("Где мой заказ?", "ru")])

    assert said == ["utter_other_language"]


async def test_details_given_after_the_answer_are_looked_up(store: DemoStore) -> None:
    """The e-mail address after the request for proof: read as ``inform``, looked up for the order."""
    email = {"event": "user", "text": "ada@example.com", "parse_data": {"intent": {"name": "inform"}}}
    email["parse_data"]["entities"] = [{"entity": "email", "value": "ada@example.com"}]

    events, said = await answer(
        store,
        {"order_id": "10002", "email": "ada@example.com"},
        [foreign("¿Dónde está mi pedido 10002?", entities=[ORDER]), email],
    )

    assert said[0] != "utter_other_language_es"  # no second honest answer to an English-free address
    assert "utter_ask_what_for" not in said
    assert SlotSet("topic", "order_status") in events


async def test_nothing_to_look_up_after_the_answer_asks_rather_than_going_silent(store: DemoStore) -> None:
    inform = {"event": "user", "text": "the blue one", "parse_data": {"intent": {"name": "inform"}}}

    _, said = await answer(store, {}, [foreign("¿Dónde está mi pedido?"), inform])

    assert said == ["utter_ask_what_for"]


def test_only_this_sessions_messages_count_towards_the_offer() -> None:
    events = [foreign("hola, ¿qué tal?"), {"event": "session_started"}, foreign("¿Dónde está mi pedido?")]

    assert unread_messages(tracker({}, events)) == 1


def test_a_translation_missing_from_the_domain_falls_back_to_english() -> None:
    assert localised("utter_other_language", "pl", DOMAIN) == "utter_other_language"
    assert localised("utter_other_language", "es", DOMAIN) == "utter_other_language_es"
    assert localised("utter_other_language", "xx", DOMAIN) == "utter_other_language"


async def test_the_empathy_engine_makes_no_emotion_claim_on_another_language() -> None:
    """Shouted, with exclamation marks: in English that would be frustration; here nothing is read."""
    previous = message("where is my order", "order_status", timestamp=0.0)
    shouted = foreign("¡¡¡DÓNDE ESTÁ MI PEDIDO, ES UNA VERGÜENZA!!!", timestamp=60.0)

    # Everything the turn decided (the explanation is stored only on turns the audit log records).
    result = ActionTrackEmpathy().track(tracker({}, [previous, {"event": "bot", "timestamp": 1.0}, shouted]))
    slots = {e["name"]: e["value"] for e in result}
    explanation = slots["empathy_explanation"]

    assert explanation["unread_language"] == "es"
    assert (
        "emotion and wording (message in a language the models do not read: es)" in explanation["unavailable"]
    )
    claims = {"negative_emotion", "shouting", "punctuation", "profanity", "sarcasm", "human_request"}
    assert not claims & set(explanation["frustration"]["contributions"])
    assert explanation["distress"]["contributions"] == {}
    assert "emotion model" not in explanation["sources"]
    assert slots["frustration"] < 0.1
    assert slots["escalation"] == "none"


async def test_repeated_failures_still_count_in_another_language() -> None:
    events = [foreign("¿Dónde está mi pedido 99999?", timestamp=60.0)]

    result = await ActionTrackEmpathy().run(
        CollectingDispatcher(), tracker({"failed_attempts": 2.0}, events), {}
    )
    contributions = next(e for e in result if e["name"] == "empathy_explanation")["value"]["frustration"][
        "contributions"
    ]

    assert contributions["failed_self_service"]["value"] > 0.5
