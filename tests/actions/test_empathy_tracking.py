from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.empathy_tracking import ActionTrackEmpathy
from tests.support.trackers import EMBEDDING_A, message, tracker


def gate(customer: str | None, verified: str | None = None) -> dict[str, Any]:
    """The metadata the Rasa server's consent gate writes (clients cannot set it)."""
    answer: dict[str, Any] = {"customer": customer, "emotion_processing": "on", "identities": []}
    return {"attune": answer | ({"verified": {"id": verified}} if verified else {})}


def bot(timestamp: float) -> dict[str, Any]:
    return {"event": "bot", "text": "ok", "timestamp": timestamp}


# The domain's initial values: a slot whose value does not change is not set again.
INITIAL = {"frustration": None, "distress": None, "tone": "neutral", "escalation": None}


async def run(slots: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """The slots after the turn, as Rasa holds them."""
    result = await ActionTrackEmpathy().run(CollectingDispatcher(), tracker(slots, events), {})
    assert all(e["event"] == "slot" for e in result)  # a custom slot mapping may only set slots
    after = {**INITIAL, **slots, **{e["name"]: e["value"] for e in result}}
    record = after.get("turn_record") or {}
    # The scores are in the turn record (not stored in slots of their own since issue 18).
    return after | {"frustration": record.get("frustration"), "distress": record.get("distress")}


async def test_a_calm_message_keeps_a_neutral_tone_and_no_escalation() -> None:
    calm = tracker({}, [message("where is order 10002", "order_status")])
    slots = await run({}, calm.events)

    assert slots["frustration"] < 0.1
    assert slots["tone"] == "neutral"
    assert slots["escalation"] == "none"
    assert slots["turn_record"]["frustration"] == pytest.approx(slots["frustration"], abs=1e-3)
    assert slots["turn_record"]["decision"] == "none"
    assert "empathy_explanation" not in slots  # a calm turn: its record is enough
    explanation = {e["name"]: e["value"] for e in ActionTrackEmpathy().track(calm)}["empathy_explanation"]
    assert "emotion model" in explanation["sources"]


async def test_an_angry_shouted_message_raises_frustration_and_changes_the_tone() -> None:
    slots = await run({}, [message("YOU LOST MY PARCEL, USELESS!!!", "complain", emotion="anger")])

    assert slots["frustration"] >= 0.6
    assert slots["tone"] == "calm_direct"
    assert slots["escalation"] == "offer_human"
    contributions = slots["empathy_explanation"]["frustration"]["contributions"]
    assert contributions["shouting"]["value"] > 0.5
    assert contributions["negative_emotion"]["contribution"] > 0.4


async def test_repeated_failures_build_frustration_until_a_person_is_offered() -> None:
    history = [message("where is 55555", "order_status", timestamp=0.0), bot(1.0)]
    first = await run({"failed_attempts": 1}, history)
    second = await run(
        {
            "failed_attempts": 2,
            "frustration": first["frustration"],
            "tone": first["tone"],
            "empathy_state": first["empathy_state"],
        },
        [*history, message("where is my order 55556", "order_status", timestamp=3.0, embedding=EMBEDDING_A)],
    )

    assert second["frustration"] > first["frustration"]
    assert second["escalation"] == "offer_human"
    reasons = " ".join(second["empathy_explanation"]["decision"]["reasons"])
    assert "failed self-service attempts" in reasons
    assert second["empathy_explanation"]["frustration"]["contributions"]["repeated_intent"]["value"] == 1.0


async def test_an_explicit_request_hands_off() -> None:
    slots = await run({}, [message("get me a human", "request_human")])

    assert slots["escalation"] == "handoff"


async def test_a_distressed_customer_is_offered_a_call_back() -> None:
    slots = await run(
        {},
        [
            message(
                "please help, I'm scared, my insulin was in that parcel", "delivery_problem", emotion="fear"
            )
        ],
    )

    assert slots["distress"] >= 0.6
    assert slots["escalation"] == "offer_callback"
    assert slots["tone"] == "warm"


async def test_an_opted_out_customer_is_not_scored_but_can_still_reach_a_person() -> None:
    slots = await run({"emotion_opt_out": True}, [message("YOU ARE USELESS!!!", "complain", emotion="anger")])

    assert slots["frustration"] is None
    assert slots["distress"] is None
    assert slots["tone"] == "neutral"
    assert slots["escalation"] == "none"
    assert slots["turn_record"]["emotion_processing"] == "off"
    assert not {"frustration", "distress", "signals"} & slots["turn_record"].keys()  # only with consent
    handed = await run({"emotion_opt_out": True}, [message("human please", "request_human")])
    assert handed["escalation"] == "handoff"


async def test_a_message_without_emotion_data_is_scored_from_behaviour_and_says_so() -> None:
    event = message("where is it", "order_status")
    del event["parse_data"]["emotion"]
    slots = await run({"failed_attempts": 3}, [event])

    assert "emotion model" in slots["empathy_explanation"]["unavailable"]
    assert slots["escalation"] == "offer_human"


async def test_a_broken_policy_file_leaves_the_slots_alone(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from actions import bootstrap

    broken = tmp_path / "empathy.yml"
    broken.write_text("version: '1'\nfrustration: {}\n")
    monkeypatch.setenv("ATTUNE_EMPATHY_POLICY", str(broken))
    bootstrap.reset()
    result = await ActionTrackEmpathy().run(CollectingDispatcher(), tracker({}, [message("hi", "greet")]), {})
    assert result == []


async def test_a_message_is_scored_once_even_when_rasa_extracts_slots_twice() -> None:
    event = {**message("where is 55555", "order_status"), "message_id": "m-1"}
    first = await run({}, [event])

    again = await ActionTrackEmpathy().run(CollectingDispatcher(), tracker({**first}, [event]), {})

    assert first["empathy_state"]["scored"] == "m-1"
    assert again == []


async def test_a_customer_back_on_another_channel_soon_after_counts_as_a_frustration_signal(
    tmp_path: Any,
) -> None:
    from actions.contact_history import ContactHistory

    contacts = ContactHistory.open(f"sqlite:///{tmp_path / 'contacts.db'}")
    contacts.record("cust-7", "web-chat-session", "socketio", now=1_000.0)
    event = {
        **message("hello again", "greet"),
        "input_channel": "twilio",
        "metadata": gate("cust-7"),
    }
    action = ActionTrackEmpathy(contacts=contacts, clock=lambda: 1_000.0 + 10 * 60)

    slots = {e["name"]: e["value"] for e in action.track(tracker({}, [event]))}

    signal = slots["empathy_explanation"]["frustration"]["contributions"]["channel_return"]
    assert signal["value"] == pytest.approx(50 / 60, abs=1e-3)  # back after 10 of the 60 minutes
    assert "contact history" in slots["empathy_explanation"]["sources"]
    assert slots["empathy_state"]["return_counted"] is True


async def test_the_same_channel_or_a_long_gap_is_not_a_return(tmp_path: Any) -> None:
    from actions.contact_history import ContactHistory

    contacts = ContactHistory.open(f"sqlite:///{tmp_path / 'contacts.db'}")
    contacts.record("cust-8", "earlier", "socketio", now=0.0)
    same_channel = {
        **message("hi", "greet"),
        "input_channel": "socketio",
        "metadata": gate("cust-8"),
    }
    later = {**message("hi", "greet"), "input_channel": "twilio", "metadata": gate("cust-8")}

    first = ActionTrackEmpathy(contacts=contacts, clock=lambda: 60.0).track(tracker({}, [same_channel]))
    second = ActionTrackEmpathy(contacts=contacts, clock=lambda: 60.0 + 3 * 3600).track(tracker({}, [later]))

    for result in (first, second):
        explanation = {e["name"]: e["value"] for e in result}["empathy_explanation"]
        assert "channel_return" not in explanation["frustration"]["contributions"]


async def test_a_customer_id_a_client_claims_is_not_their_contact_history(tmp_path: Any) -> None:
    """Issue 13: a client naming another customer in the metadata is not that customer coming back."""
    from actions.contact_history import ContactHistory

    contacts = ContactHistory.open(f"sqlite:///{tmp_path / 'contacts.db'}")
    contacts.record("C-9001", "web:victims-session", "socketio", now=1_000.0)
    claim = {"customer_id": "C-9001", "customer": {"id": "C-9001"}}
    anonymous = {**message("hello", "greet"), "input_channel": "rest", "metadata": claim}
    gated = {**anonymous, "metadata": {**claim, **gate("cust-attacker")}}
    action = ActionTrackEmpathy(contacts=contacts, clock=lambda: 1_000.0 + 10 * 60)

    results = [action.track(tracker({}, [event])) for event in (anonymous, gated)]

    for result in results:
        explanation = {e["name"]: e["value"] for e in result}["empathy_explanation"]
        assert "channel_return" not in explanation["frustration"]["contributions"]
    with contacts.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT customer_key, sender_id FROM attune_contacts").all()
    # Nothing was recorded under the victim's id: only the gate's customer for this conversation.
    assert sorted(rows) == [("C-9001", "web:victims-session"), ("cust-attacker", "test-customer")]


async def test_a_verified_token_links_contacts_when_the_handoff_service_could_not_be_asked(
    tmp_path: Any,
) -> None:
    from actions.contact_history import ContactHistory

    contacts = ContactHistory.open(f"sqlite:///{tmp_path / 'contacts.db'}")
    contacts.record("C-1001", "sms:+447700900001", "twilio", now=1_000.0)
    event = {**message("hello again", "greet"), "input_channel": "socketio", "metadata": gate(None, "C-1001")}
    action = ActionTrackEmpathy(contacts=contacts, clock=lambda: 1_000.0 + 10 * 60)

    result = action.track(tracker({}, [event]))

    explanation = {e["name"]: e["value"] for e in result}["empathy_explanation"]
    assert "channel_return" in explanation["frustration"]["contributions"]


async def test_four_messages_in_a_row_the_bot_could_not_understand_bring_the_offer_of_a_person() -> None:
    # Calm words each time: the offer comes from the bot failing to understand, not from a feeling.
    texts = (
        "my bag went to another airline",
        "the rep at the airport said otherwise",
        "who do I ask then",
        "the form on the web page does not load",
    )
    slots: dict[str, Any] = {}
    events: list[dict[str, Any]] = []
    decisions = []
    for turn, text in enumerate(texts):
        events = [*events, message(text, "nlu_fallback", timestamp=10.0 * turn), bot(10.0 * turn + 1)]
        slots = {**slots, **await run(slots, events[:-1])}
        decisions.append(slots["escalation"])

    assert decisions == ["none", "none", "none", "offer_human"]
    assert slots["empathy_state"]["misunderstood"] == 4
    reasons = " ".join(slots["empathy_explanation"]["decision"]["reasons"])
    assert "4 messages in a row not understood" in reasons


async def test_an_understood_message_starts_the_misunderstanding_count_again() -> None:
    state = {"turn": 3, "misunderstood": 3, "history": {}, "tone_turns": 0, "scored": None}
    slots = await run({"empathy_state": state}, [message("where is order 10002", "order_status")])

    assert slots["empathy_state"]["misunderstood"] == 0
    assert slots["escalation"] == "none"
