"""Conversation ids, namespaced by the channel that owns them.

A Rasa conversation is keyed by its sender id.  When every channel used the client's own id, a REST
client whose ``sender`` was an SMS customer's phone number joined that customer's conversation.  So
each channel writes its conversations under its own prefix, and no client can produce another
channel's:

- ``sms:+447700900123`` and ``whatsapp:+447700900123``: the number Twilio verified;
- ``web:<session>``: a web chat session the Rasa server issued and signed (handoff/shared/identity_tokens.py);
- ``rest:<sender>``: whatever the REST client sent, under ``rest:``.

The prefix also names the Rasa channel that delivers a message to the conversation (an agent's
reply goes back where the customer is, never to "the latest channel").
"""

from typing import Final, Literal

Channel = Literal["rest", "socketio", "twilio"]

REST: Final = "rest:"
WEB: Final = "web:"
SMS: Final = "sms:"
WHATSAPP: Final = "whatsapp:"
PREFIXES: Final[dict[str, Channel]] = {REST: "rest", WEB: "socketio", SMS: "twilio", WHATSAPP: "twilio"}


def rest_conversation(sender: str) -> str:
    return REST + sender


def web_conversation(session: str) -> str:
    return WEB + session


def twilio_conversation(sender: str) -> str:
    """The conversation of the number a Twilio webhook names in ``From`` (``+E164`` or ``whatsapp:+E164``)."""
    return sender if sender.startswith(WHATSAPP) else SMS + sender


def channel_of(conversation_id: str) -> Channel | None:
    """The Rasa channel that delivers to this conversation; None for an id from before namespacing."""
    for prefix, channel in PREFIXES.items():
        if conversation_id.startswith(prefix):
            return channel
    return None


def twilio_address(conversation_id: str) -> str | None:
    """The number to send to: ``+E164`` for SMS, ``whatsapp:+E164`` for WhatsApp; None otherwise."""
    if conversation_id.startswith(SMS):
        return conversation_id.removeprefix(SMS)
    if conversation_id.startswith(WHATSAPP):
        return conversation_id
    return None


def legacy_conversation(sender_id: str, input_channel: str | None) -> str:
    """The namespaced id of a conversation stored before namespacing, from the channel of its
    messages (REST when unknown).  Idempotent: an id already under its channel's prefix is kept.
    """
    channel: Channel = (
        "twilio" if input_channel == "twilio" else "socketio" if input_channel == "socketio" else "rest"
    )
    if channel_of(sender_id) == channel:
        return sender_id
    if channel == "twilio":
        return twilio_conversation(sender_id)
    if channel == "socketio":
        return web_conversation(sender_id)
    return rest_conversation(sender_id)
