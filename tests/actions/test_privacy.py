from pathlib import Path

from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.clients.customers import CustomerClient
from actions.privacy import ActionExplainPrivacy, ActionOptInEmotion, ActionOptOutEmotion
from handoff.app import create_app
from handoff.core.app_keys import ENGINE
from handoff.core.settings import Settings
from handoff.privacy import customers
from tests.support.trackers import tracker, user_event

TOKEN = "privacy-test-token-0000"


def gated(intent: str, identities: list[dict[str, str]]) -> dict:
    event = user_event(intent)
    event["input_channel"] = "socketio"
    event["metadata"] = {"attune": {"customer": None, "emotion_processing": "on", "identities": identities}}
    return event


async def test_opt_out_and_back_in_are_recorded_for_the_customer_on_every_channel(
    aiohttp_server, tmp_path: Path
) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'handoff.db'}", api_token=TOKEN))
    server = await aiohttp_server(app)
    client = CustomerClient(str(server.make_url("")).rstrip("/"), TOKEN)
    identities = [{"kind": "id", "value": "C-1001"}, {"kind": "session", "value": f"web:{'a' * 32}"}]
    dispatcher = CollectingDispatcher()

    out = await ActionOptOutEmotion(lambda: client).run(
        dispatcher, tracker({}, [gated("opt_out_emotion", identities)]), {}
    )
    on_sms = customers.lookup(app[ENGINE], customers.normalise("id", "C-1001"))
    back = await ActionOptInEmotion(lambda: client).run(
        dispatcher, tracker({}, [gated("opt_in_emotion", identities)]), {}
    )

    assert out == [SlotSet("emotion_opt_out", True)] and back == [SlotSet("emotion_opt_out", False)]
    assert [m["response"] for m in dispatcher.messages] == ["utter_opted_out", "utter_opted_in"]
    assert on_sms.emotion_processing == "off"
    assert on_sms.customer is not None
    log = customers.consent_log(app[ENGINE], on_sms.customer)
    assert [(e["emotion_processing"], e["channel"], e["source"]) for e in log] == [
        ("off", "socketio", "conversation"),
        ("on", "socketio", "conversation"),
    ]


async def test_a_customer_a_client_claims_in_the_metadata_keeps_their_own_choice(
    aiohttp_server, tmp_path: Path
) -> None:
    """Issue 13: "stop analysing my emotions" from a client naming C-9001 is not C-9001's choice."""
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'handoff.db'}", api_token=TOKEN))
    server = await aiohttp_server(app)
    client = CustomerClient(str(server.make_url("")).rstrip("/"), TOKEN)
    victim = customers.resolve(
        app[ENGINE], [customers.normalise("id", "C-9001")], customers.Linking(may_merge=False)
    )
    claim = {"customer": {"id": "C-9001", "phone": "+447700900123"}, "customer_id": "C-9001"}
    # As the gate passes it on: the claim dropped from the identities, only the REST sender's session.
    through_gate = gated("opt_out_emotion", [{"kind": "session", "value": "rest:attacker"}])
    through_gate["metadata"] |= claim
    ungated = {**user_event("opt_out_emotion"), "input_channel": "rest", "metadata": claim}
    dispatcher = CollectingDispatcher()

    for event in (through_gate, ungated):
        await ActionOptOutEmotion(lambda: client).run(dispatcher, tracker({}, [event]), {})

    assert [m["response"] for m in dispatcher.messages] == ["utter_opted_out", "utter_opted_out_here_only"]
    assert customers.lookup(app[ENGINE], customers.normalise("id", "C-9001")).emotion_processing == "on"
    assert customers.consent_log(app[ENGINE], victim.customer) == []
    attacker = customers.lookup(app[ENGINE], customers.normalise("session", "rest:attacker"))
    assert attacker.customer != victim.customer and attacker.emotion_processing == "off"


async def test_when_the_choice_cannot_be_recorded_the_customer_hears_it_holds_here_only() -> None:
    down = CustomerClient("http://127.0.0.1:9", TOKEN)
    identities = [{"kind": "session", "value": "web-2"}]
    dispatcher = CollectingDispatcher()

    out = await ActionOptOutEmotion(lambda: down).run(
        dispatcher, tracker({}, [gated("opt_out_emotion", identities)]), {}
    )

    assert out == [SlotSet("emotion_opt_out", True)]
    assert [m["response"] for m in dispatcher.messages] == ["utter_opted_out_here_only"]


async def test_privacy_answer_lists_what_is_held_with_the_email_masked() -> None:
    dispatcher = CollectingDispatcher()
    slots = {"order_id": "10002", "email": "ada@example.com", "emotion_opt_out": True}

    await ActionExplainPrivacy().run(dispatcher, tracker(slots, [user_event("ask_privacy")]), {})

    message = dispatcher.messages[0]
    assert message["response"] == "utter_privacy_opted_out"
    assert "10002" in message["facts"]
    assert "a**@example.com" in message["facts"]
    assert "ada@example.com" not in message["facts"]
