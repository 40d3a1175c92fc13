import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker

from actions.bootstrap import bootstrap, reset
from actions.handoff_payload import build_payload, button_words, plain_words, pseudonym
from bot.empathy.policy import EmpathyPolicy
from handoff.shared.payload_contract import ContractError, validate_payload
from tests.support.trackers import BASE_SLOTS, FAILED, conversation

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def test_a_payload_after_an_accepted_offer_carries_the_whole_context_and_follows_the_contract() -> None:
    payload = build_payload(conversation(BASE_SLOTS), now=NOW)

    assert validate_payload(payload) == payload
    assert payload["reason"] == "frustration"
    assert payload["trigger"] == {
        "decision": "offer_human",
        "reasons": ["frustration 0.65 >= 0.6", "2 failed self-service attempts >= 2"],
        "turn": 2,
    }
    assert [p["frustration"] for p in payload["trajectory"]] == [0.1, 0.65, 0.5]
    assert payload["trajectory"][1]["top_signals"] == ["negative_emotion", "failed_self_service"]
    assert [i["intent"] for i in payload["intents"]] == ["order_status", "inform", "affirm"]
    assert len(payload["failed_attempts"]) == 2
    assert "Self-service failed 2 times: no order with that number exists." in payload["summary"]
    assert "Don't ask for the order number again: it is 55556." in payload["recommended_approach"]
    assert payload["customer"]["email_masked"] == "a**@example.com"
    assert "ada@example.com" not in str(payload["customer"])
    assert payload["transcript"][0] == {
        "speaker": "customer",
        "text": "where is 55555",
        "at": "1970-01-01T00:16:40+00:00",
    }
    assert payload["channel"] == "socketio"
    assert [(e["turn"], e["top"]) for e in payload["emotions"]] == [
        (1, "neutral"),
        (2, "frustration"),
        (3, "neutral"),
    ]
    assert "embedding" not in json.dumps(payload["emotions"])  # the payload carries readings, not vectors


def test_the_same_decision_always_gets_the_same_idempotency_key() -> None:
    first = build_payload(conversation(BASE_SLOTS), now=NOW)
    again = build_payload(conversation(BASE_SLOTS), now=datetime(2027, 1, 1, tzinfo=timezone.utc))

    assert first["idempotency_key"] == again["idempotency_key"]


CLAIM = {"customer_id": "C-9001", "customer": {"id": "C-9001"}}  # what any client can send


def test_a_customer_id_a_client_claims_is_not_the_handoffs_customer() -> None:
    """Issue 13: the agent must not see an anonymous client's conversation under somebody's record."""
    claimed = build_payload(conversation({}, CLAIM), now=NOW)
    with_email = build_payload(conversation(BASE_SLOTS, CLAIM), now=NOW)

    assert claimed["customer"]["pseudonym"] == pseudonym("conv-42")  # this conversation, nobody else
    assert with_email["customer"]["pseudonym"] == pseudonym("ada@example.com")
    assert pseudonym("C-9001") not in {claimed["customer"]["pseudonym"], with_email["customer"]["pseudonym"]}


def test_the_customer_is_who_the_rasa_server_verified() -> None:
    def customer(gate: dict[str, Any]) -> str:
        metadata = {**CLAIM, "attune": {"emotion_processing": "on", "identities": [], **gate}}
        return build_payload(conversation(BASE_SLOTS, metadata), now=NOW)["customer"]["pseudonym"]

    assert customer({"customer": "cust-0123456789abcdef", "verified": {"id": "C-1001"}}) == (
        "cust-0123456789abcdef"
    )
    # The handoff service could not be asked: the signed token's customer.
    assert customer({"customer": None, "verified": {"id": "C-1001"}}) == pseudonym("C-1001")


def test_an_opted_out_customer_gets_no_emotional_fields_and_the_payload_says_so() -> None:
    payload = build_payload(conversation({**BASE_SLOTS, "emotion_opt_out": True}), now=NOW)

    validate_payload(payload)
    assert payload["emotion_processing"]["enabled"] is False
    assert not {"trajectory", "tone", "explanation", "emotions"} & set(payload)
    assert "frustrat" not in payload["summary"]
    assert any("opted out" in step for step in payload["recommended_approach"])


def test_emotional_fields_in_an_opted_out_payload_break_the_contract() -> None:
    payload = dict(build_payload(conversation({**BASE_SLOTS, "emotion_opt_out": True}), now=NOW))
    payload["tone"] = "warm"

    with pytest.raises(ContractError, match="opted out"):
        validate_payload(payload)


@pytest.mark.parametrize(
    "change, path",
    [
        ({"priority": "asap"}, "priority"),
        ({"schema_version": "2"}, "schema_version"),
        ({"conversation_id": ""}, "conversation_id"),
        ({"surprise": 1}, "payload"),
    ],
)
def test_contract_errors_name_the_field(change: dict[str, Any], path: str) -> None:
    payload = {**build_payload(conversation(BASE_SLOTS), now=NOW), **change}

    with pytest.raises(ContractError) as error:
        validate_payload(payload)
    assert error.value.path == ("" if path == "payload" else path)


def test_a_bad_trajectory_point_is_reported_with_its_index() -> None:
    payload = build_payload(conversation(BASE_SLOTS), now=NOW)
    payload["trajectory"][1]["frustration"] = 7

    with pytest.raises(ContractError, match=r"trajectory\[1\]\.frustration"):
        validate_payload(payload)


# --- issue 16: payloads that tell the agent the truth ------------------------------------------
POLICY = EmpathyPolicy.from_mapping(
    yaml.safe_load(Path("policy/empathy.yml").read_text()), "policy/empathy.yml"
)


def said(text: str, intent: str, at: float, language: dict[str, Any] | None = None) -> dict[str, Any]:
    parse: dict[str, Any] = {"intent": {"name": intent, "confidence": 0.9}, "entities": []}
    if language is not None:
        parse["language"] = language
    return {"event": "user", "text": text, "timestamp": at, "input_channel": "socketio", "parse_data": parse}


def scored(turn: int, frustration: float, distress: float, decision: str = "none") -> dict[str, Any]:
    reasons = {"offer_callback": ["distress 0.72 >= 0.6"], "offer_human": ["frustration 0.70 >= 0.6"]}
    return {
        "event": "slot",
        "name": "empathy_explanation",
        "value": {
            "turn": turn,
            "opted_out": False,
            "frustration": {"score": frustration, "contributions": {}},
            "distress": {"score": distress, "contributions": {}},
            "decision": {
                "decision": decision,
                "priority": "urgent" if decision == "offer_callback" else "normal",
                "reasons": reasons.get(decision, []),
                "turn": turn,
            },
        },
    }


def bot(text: str, at: float, buttons: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"event": "bot", "text": text, "timestamp": at, "data": {"buttons": buttons} if buttons else {}}


def tracker_of(events: list[dict[str, Any]], slots: dict[str, Any] | None = None) -> Tracker:
    latest = next(e["parse_data"] for e in reversed(events) if e["event"] == "user")
    return Tracker("web:conv-7", slots or {}, latest, events, False, None, {}, "action_listen")


SCARED = "I'm scared, my medication was in that parcel and I can't afford another"
YES_CALL_ME = [{"title": "Yes, call me", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]


def callback_form_conversation() -> Tracker:
    """Distress peaks at turn 2 (a call-back is offered); the form then takes three calm turns."""
    return tracker_of(
        [
            said("hi", "greet", 1.0),
            scored(1, 0.0, 0.02),
            bot("Hi! How can I help?", 2.0),
            said(SCARED, "delivery_problem", 3.0),
            scored(2, 0.3, 0.72, "offer_callback"),
            bot("Would a phone call help?", 4.0),
            said("yes please", "affirm", 5.0),
            scored(3, 0.1, 0.36),
            bot("What number should we call?", 6.0),
            said("07700 900123", "inform", 7.0),
            scored(4, 0.05, 0.18),
            bot("Shall we call 07700 900123 now?", 8.0, YES_CALL_ME),
            said("/affirm", "affirm", 9.0),
            scored(5, 0.02, 0.09),
        ],
        {"topic": "delivery_problem"},
    )


def test_a_distress_handoff_sent_by_the_call_back_form_still_says_distress() -> None:
    """By the time the form sends it, distress has faded to 0.09: the peak (0.72) is what counts."""
    payload = build_payload(callback_form_conversation(), now=NOW, policy=POLICY)

    assert validate_payload(payload) == payload
    assert payload["reason"] == "distress" and payload["priority"] == "urgent"
    assert "They sounded distressed (most at turn 2)." in payload["summary"]
    assert "calm" not in payload["summary"] and "0.72" not in payload["summary"]  # words, not scores
    assert payload["recommended_approach"][0].startswith("Check they are safe first")


def test_the_distress_threshold_is_the_policys() -> None:
    """A peak under the policy's threshold is no distress claim, and one over it is, whatever the
    numbers were when this module was written.
    """
    events = [said("where is my parcel", "order_status", 1.0), scored(1, 0.1, 0.45)]
    strict = dataclasses.replace(POLICY, distress_threshold=0.5)
    lenient = dataclasses.replace(POLICY, distress_threshold=0.4)

    calm = build_payload(tracker_of(events), now=NOW, policy=strict)
    upset = build_payload(tracker_of(events), now=NOW, policy=lenient)

    assert "They sound calm." in calm["summary"]
    assert not any("safe" in step for step in calm["recommended_approach"])
    assert "They sounded distressed" in upset["summary"]
    assert upset["recommended_approach"][0].startswith("Check they are safe first")


def test_the_peak_of_frustration_is_summarised_not_the_last_turn() -> None:
    events = [
        said("where is 10003", "order_status", 1.0),
        scored(1, 0.7, 0.0, "offer_human"),
        bot("Shall I bring in a person?", 2.0),
        said("ok", "affirm", 3.0),
        scored(2, 0.3, 0.0),
    ]

    payload = build_payload(tracker_of(events), now=NOW, policy=POLICY)

    assert "They were very frustrated (most at turn 1)." in payload["summary"]
    assert "Be brief and direct: say what you will do and by when." in payload["recommended_approach"]


def test_the_message_that_triggered_the_handoff_is_quoted_not_the_first_hi() -> None:
    payload = build_payload(callback_form_conversation(), now=NOW, policy=POLICY)

    assert f"In their words: \u201c{SCARED}\u201d." in payload["summary"]
    assert "\u201chi\u201d" not in payload["summary"]


def test_a_yes_to_an_offer_quotes_the_request_before_it() -> None:
    """The customer accepted a person ("yes"): the trigger is that yes; the request is the message before."""
    events = [
        said("hello", "greet", 1.0),
        said("my parcel 10003 never came and nobody answers", "delivery_problem", 2.0),
        bot("Shall I bring in a person?", 3.0),
        said("yes", "affirm", 4.0),
    ]

    payload = build_payload(tracker_of(events), now=NOW, policy=POLICY)

    assert "In their words: \u201cmy parcel 10003 never came and nobody answers\u201d." in payload["summary"]


def test_a_long_trigger_message_is_quoted_shortened() -> None:
    rant = "where is my order " * 30
    payload = build_payload(tracker_of([said(rant, "order_status", 1.0)]), now=NOW, policy=POLICY)

    assert "In their words: \u201cwhere is my order" in payload["summary"]
    assert "\u2026\u201d." in payload["summary"] and len(payload["summary"]) < 400


def test_one_failure_is_not_called_repeated() -> None:
    payload = build_payload(
        conversation({**BASE_SLOTS, "self_service_log": [FAILED]}), now=NOW, policy=POLICY
    )

    assert "Self-service failed once: no order with that number exists." in payload["summary"]
    assert not any("repeated" in step for step in payload["recommended_approach"])
    assert (
        "Apologise that self-service did not work (no order with that number exists)."
        in payload["recommended_approach"]
    )


def test_two_failures_are_repeated() -> None:
    payload = build_payload(conversation(BASE_SLOTS), now=NOW, policy=POLICY)

    assert (
        "Apologise for the repeated failure (no order with that number exists)."
        in payload["recommended_approach"]
    )


def test_what_the_agent_reads_has_no_internal_names() -> None:
    payload = build_payload(conversation(BASE_SLOTS), now=NOW, policy=POLICY)
    read = json.dumps(
        [
            payload["summary"],
            payload["recommended_approach"],
            payload["failed_attempts"],
            payload["transcript"],
        ]
    )

    assert [a["tried"] for a in payload["failed_attempts"]] == [
        "Looked up order 55555",
        "Looked up order 55556",
    ]
    assert "action_" not in read and "order_status" not in payload["summary"]


@pytest.mark.parametrize(
    "tried, words",
    [
        ("action_lookup with the account e-mail", "Looked up the account e-mail"),
        ("action_confirm_cancellation with order 10002", "Tried to cancel Pine+ for order 10002"),
        ("action_something_new with order 1", "something new with order 1"),
        ("asked the courier", "asked the courier"),
    ],
)
def test_actions_are_named_in_words(tried: str, words: str) -> None:
    assert plain_words(tried) == words


def test_a_tapped_button_is_shown_as_the_words_on_it() -> None:
    payload = build_payload(callback_form_conversation(), now=NOW, policy=POLICY)

    assert payload["transcript"][-1]["text"] == "Yes, call me (button)"
    assert "/affirm" not in json.dumps(payload["transcript"])


@pytest.mark.parametrize(
    "payload_text, words",
    [
        ("/affirm", "Yes (button)"),
        ("/deny", "No (button)"),
        ("/request_human", "Talk to a person (button)"),
        ('/inform{"order_id": "10003"}', "inform (button)"),
        ("/order_status", "where an order is (button)"),
        ("where is /affirm", "where is /affirm"),
    ],
)
def test_a_button_without_its_message_is_shown_in_plain_words(payload_text: str, words: str) -> None:
    """A re-sent old button (the message with its buttons is gone): plain words, never the payload."""
    assert button_words(payload_text) == words


def test_the_trigger_messages_language_is_in_the_payload() -> None:
    spanish = {"code": "es", "supported": False}
    events = [
        said("hola", "greet", 1.0, {"code": "es", "supported": False}),
        said("¿Dónde está mi pedido 10002? Quiero hablar con una persona", "request_human", 2.0, spanish),
        scored(1, 0.0, 0.0, "handoff"),
    ]

    payload = build_payload(tracker_of(events), now=NOW, policy=POLICY)

    assert validate_payload(payload)["language"] == "es"
    assert "They wrote in a language the bot does not read (language code es)." in payload["summary"]
    assert any(step.startswith("Reply in their language (es)") for step in payload["recommended_approach"])


def test_a_supported_language_is_recorded_without_a_note() -> None:
    events = [said("where is 10002", "order_status", 1.0, {"code": "en", "supported": True})]

    payload = build_payload(tracker_of(events), now=NOW, policy=POLICY)

    assert payload["language"] == "en" and "language" not in payload["summary"]


@pytest.mark.parametrize(
    "detected", [None, {}, {"code": "en\n<b>"}, {"code": 7}, "en", {"code": "und", "supported": True}]
)
def test_no_detected_language_leaves_the_field_out(detected: Any) -> None:
    events = [said("where is 10002", "order_status", 1.0)]
    if detected is not None:
        events[0]["parse_data"]["language"] = detected

    payload = build_payload(tracker_of(events), now=NOW, policy=POLICY)

    assert "language" not in payload and validate_payload(payload) == payload


def test_the_default_policy_is_the_action_servers() -> None:
    """Without a policy argument, the composition root's (ATTUNE_EMPATHY_POLICY) is used."""
    bootstrap(empathy_policy=dataclasses.replace(POLICY, distress_threshold=0.9))
    try:
        payload = build_payload(callback_form_conversation(), now=NOW)
    finally:
        reset()

    assert "They sounded distressed" not in payload["summary"]  # 0.72 < 0.9
    assert "The bot offered a call-back because they sounded distressed." in payload["summary"]


def test_an_undetermined_trigger_message_takes_the_language_of_the_latest_message() -> None:
    events = [
        said("ok", "affirm", 1.0, {"code": "und", "supported": True}),
        scored(1, 0.0, 0.0, "handoff"),
        said(
            "Hallo, wo ist meine Bestellung 10004?", "order_status", 2.0, {"code": "de", "supported": False}
        ),
    ]

    assert build_payload(tracker_of(events), now=NOW, policy=POLICY)["language"] == "de"
