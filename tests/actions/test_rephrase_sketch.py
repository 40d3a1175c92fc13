"""Issue 18: the rephrase signal reads the previous message through the empathy state's sketch.

The tracker store keeps no vector in the stored parse data; the state keeps a 512-bit sketch of the
latest scored message's (bot/empathy/compact_vector.py).  The signal must read about what the exact
cosine gives, and a state stored before the sketch (with the int8 vector) must still be read.
"""

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.empathy_tracking import LEGACY_VECTOR_KEY, SKETCH_KEY, ActionTrackEmpathy
from bot.empathy.compact_vector import pack, sketch, unpack
from bot.empathy.signals import REPHRASE_HIGH, REPHRASE_LOW
from tests.support.trackers import message, tracker

INITIAL = {"tone": "neutral", "failed_attempts": 0.0}


def pair_at(cosine: float, seed: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=384)
    a /= np.linalg.norm(a)
    other = rng.normal(size=384)
    other -= (other @ a) * a
    other /= np.linalg.norm(other)
    return a, cosine * a + math.sqrt(1 - cosine**2) * other


def with_vector(event: dict[str, Any], vector: npt.NDArray[np.float64] | None) -> dict[str, Any]:
    """The event as the emotion component sends it (vector packed), or as stored (no vector)."""
    emotion = {k: v for k, v in event["parse_data"]["emotion"].items() if k not in ("embedding", "vector")}
    if vector is not None:
        emotion["vector"] = pack(vector)
    return {**event, "parse_data": {**event["parse_data"], "emotion": emotion}}


def slots_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events}


def rephrase_of(events: list[dict[str, Any]]) -> float | None:
    """The rephrase signal's value in the turn's explanation (None: it was not available)."""
    explanation = slots_of(events)["empathy_explanation"]
    contribution = explanation["frustration"]["contributions"].get("rephrase")
    return None if contribution is None else float(contribution["value"])


Vector = npt.NDArray[np.float64]


async def second_turn(first: Vector, second: Vector, state_edit: Any = None) -> list[dict[str, Any]]:
    """Two messages; the first as the store gives it back (no vector), its state as the action set it."""
    first_event = with_vector(message("where is my parcel", "order_status", timestamp=0.0), first)
    earlier = await ActionTrackEmpathy().run(CollectingDispatcher(), tracker(INITIAL, [first_event]), {})
    slots = {**INITIAL, **slots_of(earlier)}
    if state_edit is not None:
        slots["empathy_state"] = state_edit(dict(slots["empathy_state"]))
    again = with_vector(message("my parcel, where is it", "order_status", timestamp=40.0), second)
    stored = [with_vector(first_event, None), {"event": "bot", "text": "ok", "timestamp": 1.0}, again]
    return ActionTrackEmpathy().track(tracker(slots, stored))


@pytest.mark.parametrize(("cosine", "seed"), [(0.62, 1), (0.7, 2), (0.78, 3)])
async def test_a_partial_rephrase_reads_about_what_the_exact_cosine_gives(cosine: float, seed: int) -> None:
    a, b = pair_at(cosine, seed)
    exact = (cosine - REPHRASE_LOW) / (REPHRASE_HIGH - REPHRASE_LOW)

    read = rephrase_of(await second_turn(a, b))

    assert read is not None
    # 0.3 of the ramp is 0.09 in cosine: three standard errors of a 512-bit estimate near 0.7.
    assert read == pytest.approx(exact, abs=0.3)


async def test_unrelated_messages_are_no_rephrase_and_the_same_message_is_one() -> None:
    a, b = pair_at(0.1, 4)

    assert rephrase_of(await second_turn(a, b)) == 0.0
    assert rephrase_of(await second_turn(a, a)) == 1.0


async def test_the_state_keeps_the_sketch_of_the_latest_message_only() -> None:
    a, b = pair_at(0.5, 5)

    state = slots_of(await second_turn(a, b))["empathy_state"]

    assert state[SKETCH_KEY] == sketch(unpack(pack(b)) or [])
    assert LEGACY_VECTOR_KEY not in state
    assert len(state[SKETCH_KEY]) == 88


async def test_a_state_stored_before_the_sketch_is_read_through_its_vector() -> None:
    a, b = pair_at(0.7, 6)

    def as_before(state: dict[str, Any]) -> dict[str, Any]:
        del state[SKETCH_KEY]
        return {**state, LEGACY_VECTOR_KEY: pack(a)}

    read = rephrase_of(await second_turn(a, b, as_before))

    exact = (0.7 - REPHRASE_LOW) / (REPHRASE_HIGH - REPHRASE_LOW)
    assert read == pytest.approx(exact, abs=0.03)  # int8 vectors: the cosine to about 1e-3


async def test_a_sketch_of_an_earlier_message_is_not_compared_with_this_one() -> None:
    # The action did not score the message before this one (a failed turn): the state still
    # holds the sketch of the one before that, which says nothing about a rephrase of the last.
    a, _ = pair_at(0.9, 8)

    def of_another_message(state: dict[str, Any]) -> dict[str, Any]:
        return {**state, "scored": "an-earlier-message"}

    events = await second_turn(a, a, of_another_message)

    assert rephrase_of(events) is None
    assert "message embeddings" in slots_of(events)["empathy_explanation"]["unavailable"]


@pytest.mark.parametrize("hostile", [None, 7, "", "A" * 88, ["x"], "not a sketch at all"])
async def test_a_state_whose_sketch_is_not_one_scores_without_the_rephrase_signal(hostile: object) -> None:
    a, b = pair_at(0.9, 7)

    def broken(state: dict[str, Any]) -> dict[str, Any]:
        return {**state, SKETCH_KEY: hostile}

    events = await second_turn(a, b, broken)

    assert rephrase_of(events) is None
    assert "message embeddings" in slots_of(events)["empathy_explanation"]["unavailable"]
