"""Trackers and events as the action server receives them from Rasa, built inline (rasa-sdk's own style)."""

import random
from typing import Any

from rasa_sdk import Tracker

from bot.empathy.emotions import EMOTIONS


def user_event(
    intent: str,
    text: str = "",
    entities: list[dict[str, Any]] | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A user event with intent and entities only (no emotion)."""
    event = {
        "event": "user",
        "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": entities or []},
    }
    return event | {"metadata": metadata} if metadata is not None else event


def tracker(slots: dict[str, Any], events: list[dict[str, Any]], sender: str = "test-customer") -> Tracker:
    """A tracker as the action server would receive it, built inline."""
    # As Rasa sends it: the latest user message's parse data, including its text.
    latest: dict[str, Any] = next(
        (e["parse_data"] | {"text": e["text"]} for e in reversed(events) if e["event"] == "user"), {}
    )
    return Tracker(
        sender_id=sender,
        slots=slots,
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


EMBEDDING_A = [1.0, 0.0, 0.0]
EMBEDDING_B = [0.0, 1.0, 0.0]


def message(
    text: str,
    intent: str,
    emotion: str = "neutral",
    timestamp: float = 0.0,
    embedding: list[float] | None = None,
) -> dict[str, Any]:
    """A user event with the emotion component's parse data: ``emotion`` on top at 0.92."""
    probabilities = {e: (0.92 if e == emotion else 0.01) for e in EMOTIONS}
    return {
        "event": "user",
        "text": text,
        "timestamp": timestamp,
        "parse_data": {
            "intent": {"name": intent, "confidence": 0.9},
            "entities": [],
            "emotion": {
                "probabilities": probabilities,
                "top": emotion,
                "embedding": embedding or EMBEDDING_A,
            },
        },
    }


def _explanation(
    turn: int, frustration: float, decision: str = "none", reasons: list[str] | None = None
) -> dict[str, Any]:
    return {
        "event": "slot",
        "name": "empathy_explanation",
        "value": {
            "turn": turn,
            "opted_out": False,
            "frustration": {
                "score": frustration,
                "contributions": {
                    "failed_self_service": {"value": 0.67, "weight": 0.3, "contribution": 0.2},
                    "shouting": {"value": 0.0, "weight": 0.2, "contribution": 0.0},
                    "negative_emotion": {"value": 0.5, "weight": 0.6, "contribution": 0.3},
                },
            },
            "distress": {"score": 0.05, "contributions": {}},
            "decision": {"decision": decision, "priority": "normal", "reasons": reasons or [], "turn": turn},
        },
    }


def _user(text: str, intent: str, at: float, emotion: str = "neutral") -> dict[str, Any]:
    probabilities = {
        e: 0.8 if e == emotion else 0.025 for e in ("anger", "frustration", "joy", "neutral", "fear")
    }
    return {
        "event": "user",
        "text": text,
        "timestamp": at,
        "input_channel": "socketio",
        "parse_data": {
            "intent": {"name": intent, "confidence": 0.91},
            "entities": [],
            "emotion": {"top": emotion, "probabilities": probabilities, "embedding": [0.1, 0.2]},
        },
    }


FAILED = {
    "asked": "where is 55555",
    "topic": "order_status",
    "tried": "action_lookup with order 55555",
    "outcome": "order_not_found",
    "failed": True,
    "why": "no order with that number exists",
}


def conversation(slots: dict[str, Any], metadata: dict[str, Any] | None = None) -> Tracker:
    """A conversation whose customer accepted a person; ``metadata`` on its latest message."""
    events = [
        _user("where is 55555", "order_status", 1000.0),
        _explanation(1, 0.1),
        {"event": "bot", "text": "I couldn't find an order 55555.", "timestamp": 1001.0},
        _user("it's 55556!! still nothing", "inform", 1010.0, emotion="frustration"),
        _explanation(
            2, 0.65, "offer_human", ["frustration 0.65 >= 0.6", "2 failed self-service attempts >= 2"]
        ),
        {"event": "bot", "text": "Shall I bring in a person?", "timestamp": 1011.0},
        _user("yes", "affirm", 1015.0) | ({"metadata": metadata} if metadata else {}),
        _explanation(3, 0.5),
    ]
    return Tracker("conv-42", slots, events[-2]["parse_data"], events, False, None, {}, "action_listen")


# The slots of conversation(): the order, the contact and two failed self-service attempts.
BASE_SLOTS = {
    "order_id": "55556",
    "email": "ada@example.com",
    "topic": "order_status",
    "tone": "apologetic",
    "self_service_log": [
        FAILED,
        {**FAILED, "asked": "it's 55556", "tried": "action_lookup with order 55556"},
    ],
}


def callback_form_answer(
    text: str,
    intent: str,
    channel: str = "socketio",
    sender: str = "web-1",
    slots: dict[str, Any] | None = None,
) -> Tracker:
    """The callback form asking, the customer's answer its latest message."""
    event = {
        "event": "user",
        "text": text,
        "input_channel": channel,
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text},
    }
    return Tracker(
        sender,
        slots or {},
        event["parse_data"],
        [event],
        False,
        None,
        {"name": "callback_form"},
        "action_listen",
    )


# Generated conversations (the experiment and shadow tests run the engine over many of them).
GENERATED_EMOTIONS = ("neutral", "anger", "annoyance", "sadness", "fear", "joy", "disappointment")
GENERATED_INTENTS = ("order_status", "complain", "nlu_fallback", "request_refund", "request_human", "greet")
GENERATED_TEXTS = (
    "where is my order",
    "THIS IS USELESS!!!",
    "I'm scared, I need it today",
    "ok thanks",
    "why?? again??",
)


def generated_turns(seed: int) -> list[tuple[dict[str, Any], int]]:
    """A customer's messages, each with the failed self-service attempts before it."""
    rng = random.Random(seed)
    failures, turns = 0, []
    for i in range(rng.randint(2, 9)):
        event = message(
            rng.choice(GENERATED_TEXTS),
            rng.choice(GENERATED_INTENTS),
            emotion=rng.choice(GENERATED_EMOTIONS),
            timestamp=1000.0 + 20 * i + rng.random() * 10,
            embedding=rng.choice((EMBEDDING_A, EMBEDDING_B)),
        )
        event["message_id"] = f"{seed}-{i}"
        failures += rng.random() < 0.3
        turns.append((event, failures))
    return turns
