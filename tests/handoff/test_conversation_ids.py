"""Conversation ids carry their channel, so no client of one channel can name another's."""

import pytest

from handoff.shared.conversation_ids import (
    channel_of,
    legacy_conversation,
    rest_conversation,
    twilio_address,
    twilio_conversation,
    web_conversation,
)


def test_a_rest_sender_that_is_a_phone_number_is_still_a_rest_conversation() -> None:
    assert rest_conversation("+447700900123") == "rest:+447700900123"
    assert channel_of(rest_conversation("sms:+447700900123")) == "rest"
    assert twilio_address(rest_conversation("sms:+447700900123")) is None


def test_sms_and_whatsapp_conversations_are_addressed_to_the_number_twilio_verified() -> None:
    assert twilio_conversation("+447700900123") == "sms:+447700900123"
    assert twilio_conversation("whatsapp:+447700900123") == "whatsapp:+447700900123"
    assert twilio_address("sms:+447700900123") == "+447700900123"
    assert twilio_address("whatsapp:+447700900123") == "whatsapp:+447700900123"
    assert channel_of("sms:+447700900123") == channel_of("whatsapp:+1") == "twilio"


def test_web_conversations_belong_to_socketio_and_old_ids_to_nobody() -> None:
    assert channel_of(web_conversation("ab" * 16)) == "socketio"
    assert channel_of("+447700900123") is None


@pytest.mark.parametrize(
    ("sender", "channel", "expected"),
    [
        ("+447700900123", "twilio", "sms:+447700900123"),
        ("whatsapp:+447700900123", "twilio", "whatsapp:+447700900123"),
        ("4f3c" * 8, "socketio", "web:" + "4f3c" * 8),
        ("alice", "rest", "rest:alice"),
        ("+447700900123", "rest", "rest:+447700900123"),
        ("web:abc", "rest", "rest:web:abc"),
        ("bob", None, "rest:bob"),
    ],
)
def test_stored_conversations_get_their_channel_prefix_once(
    sender: str, channel: str | None, expected: str
) -> None:
    assert legacy_conversation(sender, channel) == expected
    assert legacy_conversation(expected, channel) == expected
