import json
from datetime import datetime, timezone
from typing import Any

import pytest

from actions.handoff_payload import build_payload, pseudonym
from handoff.shared.payload_contract import ContractError, validate_payload
from tests.support.trackers import BASE_SLOTS, conversation

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
    assert "Self-service failed 2 time(s): no order with that number exists." in payload["summary"]
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
