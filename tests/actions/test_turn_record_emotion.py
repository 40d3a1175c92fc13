"""The turn record's top emotion label (actions/turn_record.py): only with consent and a reading."""

from typing import Any

from actions import turn_record
from tests.support.trackers import message, tracker

EXPLANATION: dict[str, Any] = {"frustration": {"score": 0.5, "contributions": {}}}


def test_the_record_names_the_top_emotion_only_with_consent() -> None:
    latest = message("this is the third time I ask", "order_status", emotion="anger")
    seen = tracker({}, [latest])

    scored = turn_record.build(seen, 1, latest, "calm_direct", "none", EXPLANATION)
    unscored = turn_record.build(seen, 1, latest, "neutral", "none", None)

    assert scored["emotion"] == "anger"
    assert "emotion" not in unscored


def test_no_label_for_an_unread_language_a_missing_reading_or_a_hostile_one() -> None:
    latest = message("wo ist meine Bestellung", "order_status", emotion="fear")
    unread = {**EXPLANATION, "unread_language": "de"}
    no_reading = {**latest, "parse_data": {"intent": {"name": "greet", "confidence": 0.9}}}
    errored = {**latest, "parse_data": {"emotion": {"error": "emotion model not trained"}}}
    hostile = {**latest, "parse_data": {"emotion": {"top": "x" * 500}}}

    for event, explanation in [
        (latest, unread),
        (no_reading, EXPLANATION),
        (errored, EXPLANATION),
        (hostile, EXPLANATION),
    ]:
        record = turn_record.build(tracker({}, [event]), 1, event, "neutral", "none", explanation)
        assert "emotion" not in record, event
