from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.privacy import ActionExplainPrivacy, ActionOptInEmotion, ActionOptOutEmotion
from tests.actions.conftest import tracker, user_event


async def test_opt_out_and_back_in_set_the_slot() -> None:
    dispatcher = CollectingDispatcher()
    out = await ActionOptOutEmotion().run(dispatcher, tracker({}, [user_event("opt_out_emotion")]), {})
    back = await ActionOptInEmotion().run(dispatcher, tracker({}, [user_event("opt_in_emotion")]), {})

    assert out == [SlotSet("emotion_opt_out", True)]
    assert back == [SlotSet("emotion_opt_out", False)]
    assert [m["response"] for m in dispatcher.messages] == ["utter_opted_out", "utter_opted_in"]


async def test_privacy_answer_lists_what_is_held_with_the_email_masked() -> None:
    dispatcher = CollectingDispatcher()
    slots = {"order_id": "10002", "email": "ada@example.com", "emotion_opt_out": True}

    await ActionExplainPrivacy().run(dispatcher, tracker(slots, [user_event("ask_privacy")]), {})

    message = dispatcher.messages[0]
    assert message["response"] == "utter_privacy_opted_out"
    assert "10002" in message["facts"]
    assert "a**@example.com" in message["facts"]
    assert "ada@example.com" not in message["facts"]
