"""The pure parts of the growth benchmark (bench/growth.py, bench/growth_report.py).

Windows, medians, CPU per message, tracker bytes per turn and per kind of event, the report and the
arguments.
"""

import json
import sqlite3
from pathlib import Path

import pytest

from bench.growth import CALM_TURNS, MAX_TURNS, OPENING, parse_args, script, stored_events
from bench.growth_report import (
    Event,
    breakdown,
    checkpoints,
    cpu_ms_per_message,
    event_key,
    growth,
    markdown,
    tracker_figures,
    tracker_summary,
    window,
    window_median,
)


def test_a_full_run_measures_the_issues_turns_and_a_short_one_its_last() -> None:
    assert checkpoints(200) == [10, 100, 200]
    assert checkpoints(250) == [10, 100, 200, 250]
    assert checkpoints(30) == [10, 30]
    assert checkpoints(4) == [4]
    with pytest.raises(ValueError, match="at least one turn"):
        checkpoints(0)


@pytest.mark.parametrize(
    ("turn", "turns", "expected"),
    [(10, 200, (6, 15)), (100, 200, (96, 105)), (200, 200, (191, 200)), (10, 12, (3, 12)), (3, 4, (1, 4))],
)
def test_windows_stay_inside_the_conversation(turn: int, turns: int, expected: tuple[int, int]) -> None:
    assert window(turn, turns) == expected


@pytest.mark.parametrize(("turn", "turns"), [(0, 10), (11, 10), (-1, 10)])
def test_a_window_around_a_turn_the_run_never_reached_is_an_error(turn: int, turns: int) -> None:
    with pytest.raises(ValueError, match="outside"):
        window(turn, turns)


def test_window_median_skips_failed_turns_and_counts_turns_from_one() -> None:
    latencies: list[float | None] = [100.0, 1.0, 2.0, None, 50.0, 1000.0]
    assert window_median(latencies, (2, 5)) == 2.0  # 1, 2, 50 (turn 4 failed)
    assert window_median(latencies, (1, 1)) == 100.0
    assert window_median([None, None], (1, 2)) is None


def test_cpu_per_message_is_the_difference_of_cumulative_readings() -> None:
    cumulative = [10.0, 10.1, 10.3, 10.6, 11.0]  # before turn 1, then after turns 1..4
    assert cpu_ms_per_message(cumulative, (1, 4)) == pytest.approx(250.0)
    assert cpu_ms_per_message(cumulative, (3, 4)) == pytest.approx(350.0)
    assert cpu_ms_per_message(cumulative, (1, 1)) == pytest.approx(100.0)


def test_slots_and_actions_are_counted_by_name() -> None:
    assert event_key("slot", "tone") == "slot:tone"
    assert event_key("action", "action_listen") == "action:action_listen"
    assert event_key("user", None) == "user"
    assert event_key("slot", None) == "slot"


def _events() -> list[Event]:
    return [
        Event("session_started", 50),
        Event("action:action_listen", 50),
        Event("user", 1000),  # turn 1
        Event("slot:tone", 100),
        Event("bot", 300),
        Event("user", 2000),  # turn 2
        Event("slot:tone", 100),
        Event("slot:log", 500),
        Event("bot", 400),
    ]


def test_a_user_event_opens_a_turn_and_what_came_before_is_turn_zero() -> None:
    figures = tracker_figures(_events())
    assert figures.bytes_per_turn == [100, 1400, 3000]
    assert figures.events_per_turn == [2, 3, 4]
    assert figures.turns == 2
    assert figures.total_bytes == 4500
    assert figures.by_key["slot:tone"] == [2, 200]


def test_the_breakdown_is_largest_first_per_customer_turn() -> None:
    rows = breakdown(tracker_figures(_events()), top=2)
    assert rows == [
        {"event": "user", "share": 0.667, "events_per_turn": 1.0, "bytes_per_turn": 1500, "mean_bytes": 1500},
        {"event": "bot", "share": 0.156, "events_per_turn": 1.0, "bytes_per_turn": 350, "mean_bytes": 350},
    ]


def test_tracker_summary_averages_bytes_over_each_window() -> None:
    summary = tracker_summary(tracker_figures(_events()), {1: (1, 1), 2: (1, 2), 9: (5, 9)})
    assert summary["bytes_per_turn"] == 2250
    assert summary["events_per_turn"] == 4.5
    assert summary["bytes_per_turn_at"] == {"1": 1400, "2": 2200}  # turn 9 was never stored
    assert summary["turns_stored"] == 2


def test_growth_is_the_last_checkpoint_over_the_first() -> None:
    assert growth({"10": 100.0, "200": 250.0, "100": 150.0}) == 2.5
    assert growth({"10": 100.0}) is None
    assert growth({"10": None, "200": 5.0}) is None
    assert growth({"10": 100.0, "200": None}) is None


def test_the_report_names_every_system_and_its_figures() -> None:
    system = {
        "latency_ms": {"10": 90.5, "200": 300.0},
        "latency_growth": 3.31,
        "cpu_ms_per_msg": {"10": 40.0, "200": 80.0},
        "cpu_ms_per_msg_all": 60.0,
        "tracker": {
            "bytes_per_turn": 5200,
            "events_per_turn": 10.1,
            "breakdown": breakdown(tracker_figures(_events())),
        },
        "rasa_rss_mb": {"end": 812.3},
        "errors": 0,
    }
    result = {
        "turns": 200,
        "checkpoints": [10, 200],
        "machine": {"cpus": 2, "loadavg_1m": 1.5},
        "systems": {"plain": system, "attune": {**system, "latency_growth": None}},
    }
    report = markdown(result)
    assert "| plain | 90.5 | 300.0 | 3.31x | 40.0 | 80.0 | 60.0 | 5200 | 10.1 | 812.3 | 0 |" in report
    assert "| attune | 90.5 | 300.0 | - |" in report
    assert "| `user` | 67% | 1.0 events, 1500 B | 1500 B |" in report


def _tracker_db(path: Path, rows: list[tuple[str, str, str | None, dict[str, object]]]) -> Path:
    with sqlite3.connect(path) as db:
        db.execute(
            # Rasa 3.6's SQLTrackerStore schema (rasa/core/tracker_store.py, SQLEvent).
            "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL,"
            " type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255),"
            " action_name VARCHAR(255), data TEXT)"
        )
        db.executemany(
            "INSERT INTO events (sender_id, type_name, action_name, data) VALUES (?, ?, ?, ?)",
            [
                (sender, type_name, action, json.dumps(data, ensure_ascii=False))
                for sender, type_name, action, data in rows
            ],
        )
    return path


def test_stored_events_reads_one_conversation_in_order_with_slot_names(tmp_path: Path) -> None:
    db = _tracker_db(
        tmp_path / "tracker.db",
        [
            ("rest:me", "action", "action_listen", {"event": "action"}),
            ("rest:other", "user", None, {"event": "user", "text": "not mine"}),
            ("rest:me", "user", None, {"event": "user", "text": "hé"}),
            ("me", "slot", None, {"event": "slot", "name": "tone", "value": "warm"}),
        ],
    )
    events = stored_events(db, "me")
    assert [e.key for e in events] == ["action:action_listen", "user", "slot:tone"]
    # Bytes, not characters: the "é" is two.
    assert events[1].size == len(json.dumps({"event": "user", "text": "hé"}, ensure_ascii=False)) + 1


def test_the_script_opens_then_cycles_through_the_calm_turns() -> None:
    messages = script(len(OPENING) + len(CALM_TURNS) + 3)
    assert len(messages) == len(OPENING) + len(CALM_TURNS) + 3
    assert messages[: len(OPENING)] == list(OPENING)
    assert messages[len(OPENING) : len(OPENING) + len(CALM_TURNS)] == list(CALM_TURNS)
    assert messages[-3:] == list(CALM_TURNS[:3])
    assert script(1) == [OPENING[0]]
    assert len(script(200)) == 200


def test_arguments_default_to_the_issues_200_turns(tmp_path: Path) -> None:
    args = parse_args([])
    assert (args.turns, args.warmup_turns, args.out.name) == (200, 8, "growth.json")
    args = parse_args(["--turns", "30", "--out", str(tmp_path / "g.json")])
    assert (args.turns, args.out) == (30, tmp_path / "g.json")


@pytest.mark.parametrize("turns", ["0", "-5", "abc", "1.5", str(MAX_TURNS + 1), ""])
def test_a_bad_number_of_turns_is_refused(turns: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--turns", turns])
    assert "--turns" in capsys.readouterr().err


def test_a_row_without_data_counts_as_an_empty_event(tmp_path: Path) -> None:
    db = _tracker_db(tmp_path / "tracker.db", [])
    with sqlite3.connect(db) as connection:
        connection.execute("INSERT INTO events (sender_id, type_name, data) VALUES ('rest:me', 'slot', NULL)")
    assert stored_events(db, "me") == [Event("slot", 0)]
