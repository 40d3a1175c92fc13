"""bench/replay_threads.py reads a conversation's peak frustration from its per-turn records."""

from bench.replay_threads import highest_frustration


def test_the_peak_comes_from_the_turn_records() -> None:
    events = [
        {"event": "slot", "name": "turn_record", "value": {"turn": 1, "frustration": 0.12}},
        {"event": "slot", "name": "turn_record", "value": {"turn": 2, "frustration": 0.57}},
        {"event": "slot", "name": "turn_record", "value": {"turn": 3, "emotion_processing": "off"}},
        {"event": "slot", "name": "tone", "value": "warm"},
    ]

    assert highest_frustration(events) == 0.57


def test_no_scored_record_has_no_peak() -> None:
    events = [{"event": "slot", "name": "turn_record", "value": {"turn": 1, "emotion_processing": "off"}}]

    assert highest_frustration(events) is None
