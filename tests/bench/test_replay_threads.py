"""The pure parts of the thread replay (bench/replay_threads.py): ratings, buckets, offers found, shares."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench.replay_threads import (
    OFFER_ACTIONS,
    OFFER_RESPONSE_PREFIXES,
    DataMissing,
    ThreadResult,
    bucket,
    load_threads,
    person_offers,
    summarise,
    thread_rating,
)

ROOT = Path(__file__).resolve().parents[2]


def _turn(speaker: str, text: str, frustration: int | None = None) -> dict[str, Any]:
    return {"speaker": speaker, "text": text, "frustration": frustration}


@pytest.mark.parametrize(
    ("rating", "expected"), [(0, "0-1"), (1, "0-1"), (2, "2"), (3, "3"), (4, "4"), (None, None)]
)
def test_ratings_fall_into_the_goal_buckets(rating: int | None, expected: str | None) -> None:
    assert bucket(rating) == expected


def test_a_thread_is_rated_by_its_angriest_customer_turn() -> None:
    turns = [_turn("user", "a", 1), _turn("bot", "b", 4), _turn("user", "c", 3), _turn("user", "d")]
    assert thread_rating(turns) == 3
    assert thread_rating([_turn("user", "a"), _turn("bot", "b", 2)]) is None


def test_load_threads_keeps_customer_turns_in_order(tmp_path: Path) -> None:
    path = tmp_path / "threads.jsonl"
    rated = {"id": "t1", "turns": [_turn("user", "first", 2), _turn("bot", "agent"), _turn("user", " two ")]}
    agent_only = {"id": "t2", "turns": [_turn("bot", "x")]}
    path.write_text(f"{json.dumps(rated)}\n\n{json.dumps(agent_only)}\n")
    [thread] = load_threads(path)
    assert (thread.id, thread.rating, thread.customer_turns) == ("t1", 2, ("first", "two"))


def test_a_missing_or_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataMissing, match=r"absent\.jsonl not found"):
        load_threads(tmp_path / "absent.jsonl")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": "t1", "turns": "nope"}\n')
    with pytest.raises(DataMissing, match=r"broken\.jsonl:1"):
        load_threads(broken)


def test_offers_are_found_in_the_tracker_events_with_the_turn_they_answered() -> None:
    events = [
        {"event": "action", "name": "action_session_start"},
        {"event": "user", "text": "where is my parcel"},
        {"event": "action", "name": "action_clarify_request"},
        {"event": "bot", "text": "...", "metadata": {"utter_action": "utter_default"}},
        {"event": "slot", "name": "escalation", "value": "offer_human"},  # a decision alone is no offer
        {"event": "user", "text": "still nothing"},
        {"event": "action", "name": "action_offer_human"},
        {"event": "bot", "text": "...", "metadata": {"utter_action": "utter_offer_human"}},
        {"event": "user", "text": "hola"},
        {"event": "action", "name": "action_check_language"},
        {"event": "bot", "text": "...", "metadata": {"utter_action": "utter_other_language_offer_human_es"}},
        {"event": "user", "text": "yes"},
        {"event": "action", "name": "action_handoff"},
        {"event": "bot", "text": "...", "metadata": None},
    ]
    assert person_offers(events) == [(2, "offer_human"), (3, "offer_human"), (4, "handoff")]
    assert person_offers(events[:6]) == []


def test_the_offers_looked_for_are_the_ones_the_bot_has() -> None:
    from actions.languages import OFFER_PERSON
    from bot.components.escalation_policy import ACTIONS

    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    assert set(OFFER_ACTIONS) == set(ACTIONS.values())
    # An action with settings (send_domain) is a one-key mapping in domain.yml's list.
    actions = {name for entry in domain["actions"] for name in ([entry] if isinstance(entry, str) else entry)}
    assert set(OFFER_ACTIONS) <= actions
    assert list(OFFER_RESPONSE_PREFIXES) == [OFFER_PERSON]
    assert OFFER_PERSON in domain["responses"]


def _result(rating: int | None, offered: bool, failed: bool = False) -> ThreadResult:
    return ThreadResult(
        f"t{rating}",
        rating,
        bucket(rating),
        offers=["offer_human"] if offered else [],
        errors=["turn 1: HTTP 500"] if failed else [],
    )


def test_shares_per_bucket_and_the_goals() -> None:
    results = [_result(4, True), _result(4, True), _result(3, True), _result(3, False)]
    results.append(_result(4, False, failed=True))
    results += [_result(0, False)] * 9 + [_result(1, True), _result(2, True), _result(None, True)]
    summary = summarise(results)
    frustrated = summary["buckets"][">=3"]
    assert (frustrated["threads"], frustrated["offered"], frustrated["share"]) == (4, 3, 0.75)
    assert summary["buckets"]["0-1"]["share"] == 0.1
    assert summary["buckets"]["2"]["by_kind"] == {"offer_human": 1, "offer_callback": 0, "handoff": 0}
    assert (summary["failed"], summary["unrated"]) == (1, 1)
    assert summary["goals"]["met"]
    summary = summarise([*results, _result(1, True)])
    assert not summary["goals"]["calm_met"]
    assert not summary["goals"]["met"]
