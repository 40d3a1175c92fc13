"""Issue 18, the tracker diet: what action_track_empathy and the self-service actions leave in Rasa's
tracker is small, set once, and does not grow with the conversation (docs/tracker-budget.md).
"""

import json
from typing import Any

import numpy as np
import numpy.typing as npt
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import turn_record
from actions.empathy_tracking import ActionTrackEmpathy
from actions.handoff_payload import build_payload
from bot.empathy.compact_vector import pack, sketch, unpack
from tests.actions.test_handoff_payload import NOW
from tests.support.trackers import BASE_SLOTS, FAILED, conversation, message, tracker

INITIAL = {"tone": "neutral", "failed_attempts": 0.0}
# Attune's own bytes per customer turn (the empathy action's events), the 88-character sketch included.
EMPATHY_BYTES_PER_TURN = 900


def with_vector(event: dict[str, Any], vector: np.ndarray | None) -> dict[str, Any]:
    """``event`` as the emotion component sends it this turn: the vector packed, no float list."""
    emotion = {k: v for k, v in event["parse_data"]["emotion"].items() if k not in ("embedding", "vector")}
    if vector is not None:
        emotion["vector"] = pack(vector)
    return {**event, "parse_data": {**event["parse_data"], "emotion": emotion}}


def pack_restored(vector: npt.NDArray[np.float64]) -> list[float]:
    """``vector`` as the action reads it from the parse data: packed, then unpacked."""
    restored = unpack(pack(vector))
    assert restored is not None
    return restored


def as_stored(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` as the tracker store keeps it (bot/components/tracker_store.py): no vector."""
    return with_vector(event, None)


async def turn(slots: dict[str, Any], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return await ActionTrackEmpathy().run(CollectingDispatcher(), tracker(slots, events), {})


def names(events: list[dict[str, Any]]) -> list[str]:
    return [e["name"] for e in events]


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=384)
    return vector / np.linalg.norm(vector)


async def test_a_calm_turn_after_a_calm_turn_sets_only_its_record_and_what_changed() -> None:
    first_event = with_vector(message("where is order 10002", "order_status", timestamp=0.0), unit(1))
    first = await turn(INITIAL, [first_event])
    slots = {**INITIAL, **{e["name"]: e["value"] for e in first}}
    second_event = with_vector(message("ok thanks", "thank", timestamp=20.0), unit(2))
    history = [as_stored(first_event), {"event": "bot", "text": "ok", "timestamp": 1.0}, second_event]

    second = await turn(slots, history)

    assert "turn_record" in names(second) and "empathy_state" in names(second)
    # The tone and the decision did not change: not set again; no explanation, no trajectory.
    assert not {"tone", "escalation", "empathy_explanation", "frustration_trajectory"} & set(names(second))
    record = {e["name"]: e["value"] for e in second}["turn_record"]
    assert record["turn"] == 2 and record["intent"] == "thank" and record["decision"] == "none"


async def test_a_fresh_escalation_is_set_even_when_the_slot_holds_the_same_decision() -> None:
    asked = await turn(INITIAL, [message("get me a human", "request_human", timestamp=0.0)])
    slots = {**INITIAL, **{e["name"]: e["value"] for e in asked}}
    assert slots["escalation"] == "handoff"
    again = [
        message("get me a human", "request_human", timestamp=0.0),
        {"event": "bot", "text": "ok", "timestamp": 1.0},
        message("a person please", "request_human", timestamp=9.0),
    ]

    events = {e["name"]: e["value"] for e in await turn(slots, again)}

    # EscalationPolicy acts on this turn's SlotSet; the explanation is kept for the handoff payload.
    assert events["escalation"] == "handoff"
    assert events["empathy_explanation"]["decision"]["decision"] == "handoff"


async def test_a_rephrase_is_seen_through_the_state_when_the_stored_message_has_no_vector() -> None:
    words = unit(3)
    first_event = with_vector(message("where is my parcel", "order_status", timestamp=0.0), words)
    first = {e["name"]: e["value"] for e in await turn(INITIAL, [first_event])}
    assert first["empathy_state"]["sketch"] == sketch(pack_restored(words))  # the latest message's only
    assert "vector" not in first["empathy_state"]
    again = with_vector(message("where is my parcel??", "order_status", timestamp=30.0), words)
    stored = [as_stored(first_event), {"event": "bot", "text": "ok", "timestamp": 1.0}, again]

    with_state = ActionTrackEmpathy().track(tracker({**INITIAL, **first}, stored))
    without = ActionTrackEmpathy().track(tracker({**INITIAL, **first, "empathy_state": {"turn": 1}}, stored))

    explained = {e["name"]: e["value"] for e in with_state}["empathy_explanation"]
    assert explained["frustration"]["contributions"]["rephrase"]["value"] == 1.0
    unexplained = {e["name"]: e["value"] for e in without}["empathy_explanation"]
    assert "message embeddings" in unexplained["unavailable"]


async def test_the_empathy_bytes_per_turn_stay_within_budget_and_do_not_grow() -> None:
    slots: dict[str, Any] = dict(INITIAL)
    history: list[dict[str, Any]] = []
    sizes = []
    script = [("where is order 10002", "order_status"), ("ok thanks", "thank")]
    for n in range(40):
        text, intent = script[n % 2]
        latest = with_vector(message(text, intent, timestamp=30.0 * n), unit(n))
        events = await turn(slots, [*history, latest])
        sizes.append(sum(len(json.dumps(e)) for e in events))
        slots.update({e["name"]: e["value"] for e in events})
        history += [as_stored(latest), *events, {"event": "bot", "text": "ok", "timestamp": 30.0 * n + 1}]

    assert max(sizes) <= EMPATHY_BYTES_PER_TURN, sizes
    assert max(sizes[30:]) <= max(sizes[2:12]) + 16, sizes  # turn 40 costs what turn 5 did


def test_the_record_carries_scores_only_with_consent_and_the_outcome_answered() -> None:
    events = [
        message("where is 55555", "order_status", timestamp=0.0),
        {"event": "slot", "name": "last_outcome", "value": "order_not_found"},
        {"event": "bot", "text": "no such order", "timestamp": 1.0},
        message("it's 55556", "inform", timestamp=5.0),
    ]
    seen = tracker({}, events)
    explanation = {"frustration": {"score": 0.41234, "contributions": {"a": {"contribution": 0.3}}}}

    scored = turn_record.build(seen, 2, events[-1], "warm", "none", explanation)
    unscored = turn_record.build(seen, 2, events[-1], "neutral", "none", None)

    assert scored == {
        "v": 1,
        "turn": 2,
        "intent": "inform",
        "confidence": 0.9,
        "outcome": "order_not_found",
        "tone": "warm",
        "decision": "none",
        "emotion_processing": "on",
        "frustration": 0.412,
        "distress": 0.0,
        "signals": ["a"],
        "emotion": "neutral",
    }
    assert unscored["emotion_processing"] == "off"
    assert not {"frustration", "distress", "signals", "emotion"} & unscored.keys()
    # An outcome from before the previous message is not what this one answers.
    assert turn_record.outcome_before(tracker({}, [*events, message("hi", "greet", timestamp=9.0)])) is None


def compact(legacy: Tracker) -> Tracker:
    """conversation() as it is stored since issue 18: a record per turn, the explanation only on the
    turn that escalated, one event per self-service attempt instead of the log slot.
    """
    events: list[dict[str, Any]] = []
    latest: dict[str, Any] = {}
    for event in legacy.events:
        if event["event"] == "user":
            latest = event
        if event.get("name") != "empathy_explanation":
            events.append(event)
            continue
        explanation = event["value"]
        decision = explanation["decision"]["decision"]
        record = turn_record.build(legacy, explanation["turn"], latest, "apologetic", decision, explanation)
        events.append({"event": "slot", "name": "turn_record", "value": record})
        if decision != "none":
            events.append(event)
    attempts = [
        {"event": "slot", "name": "self_service_attempt", "value": a} for a in BASE_SLOTS["self_service_log"]
    ]
    events[1:1] = attempts
    slots = {k: v for k, v in legacy.slots.items() if k != "self_service_log"}
    return Tracker(legacy.sender_id, slots, legacy.latest_message, events, False, None, {}, "action_listen")


def test_the_handoff_payload_reads_the_same_from_records_as_from_an_explanation_every_turn() -> None:
    legacy = conversation(BASE_SLOTS)

    assert build_payload(compact(legacy), now=NOW) == build_payload(legacy, now=NOW)
    assert FAILED in BASE_SLOTS["self_service_log"]  # the attempts the payload lists
