"""Shadow mode in action_track_empathy: a candidate policy beside the live one, with no effect (issue 22)."""

import asyncio
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from actions import bootstrap, shadow_mode
from actions.empathy_tracking import ActionTrackEmpathy, stored
from actions.shadow_log import ShadowLog
from actions.shadow_mode import ShadowMode
from bot.empathy.escalation import HANDOFF, OFFER_CALLBACK, OFFER_HUMAN
from bot.empathy.policy import EmpathyPolicy
from bot.empathy.shadow import ShadowSettings
from handoff.analytics.shadow_report import read_records
from tests.support.trackers import GENERATED_TEXTS, generated_turns, message, tracker

NOW = 1_800_000_000.0


def live_policy() -> EmpathyPolicy:
    return EmpathyPolicy.from_mapping(yaml.safe_load(Path("policy/empathy.yml").read_text(encoding="utf-8")))


def candidate_policy() -> EmpathyPolicy:
    """Quicker to offer a person and a call-back, and heavier on negative emotion."""
    live = live_policy()
    weights = dict(live.frustration_weights) | {"negative_emotion": 0.8}
    return dataclasses.replace(
        live,
        frustration_weights=weights,
        escalation=dataclasses.replace(live.escalation, offer_human_above=0.4, callback_distress_above=0.45),
    )


def mode(tmp_path: Path, candidate: Any = candidate_policy, **limits: int) -> ShadowMode:
    url = f"sqlite:///{tmp_path / 'shadow-store.db'}"
    return ShadowMode(
        ShadowSettings(True, "v2", "unused.yml"),
        candidate,
        lambda: ShadowLog.open(url),
        lambda: NOW,
        **limits,
    )


def converse(shadow: ShadowMode | None, seed: int, opted_out: bool = False) -> list[str]:
    """Each turn's events (all it decided, then what Rasa keeps), as bytes, slots carried over."""
    action = ActionTrackEmpathy(experiments=lambda: (), clock=lambda: NOW, shadow=lambda: shadow)
    slots: dict[str, Any] = {"emotion_opt_out": opted_out}
    events: list[dict[str, Any]] = []
    out = []
    for event, failures in generated_turns(seed):
        events.append(event)
        slots["failed_attempts"] = failures
        current = tracker(dict(slots), list(events), sender=f"web:conversation-{seed}")
        turn = action.track(current)
        kept = stored(current, turn)
        out.append(json.dumps([turn, kept], sort_keys=True))
        for slot_event in kept:
            slots[slot_event["name"]] = slot_event["value"]
            events.append(slot_event)
        events.append({"event": "bot", "timestamp": event["timestamp"] + 1, "text": "..."})
    return out


def test_the_events_are_byte_identical_with_shadow_on_and_off_over_many_conversations(tmp_path: Path) -> None:
    shadow = mode(tmp_path)
    turns = 0
    for seed in range(120):
        off, on = converse(None, seed), converse(shadow, seed)
        assert on == off, seed
        turns += len(off)
    # The candidate read every one of those turns, carrying its own state, and disagreed on some.
    shadow.flush()
    records = read_records(ShadowLog.open(f"sqlite:///{tmp_path / 'shadow-store.db'}").engine)
    assert len(records) == turns and all(r.continued == (r.turn > 1) for r in records)
    differ = [r for r in records if r.live_decision != r.candidate_decision]
    assert len(differ) > 20
    assert {OFFER_HUMAN, OFFER_CALLBACK} <= {r.candidate_decision for r in differ}
    # An explicit request is a handoff under any policy.
    assert all(r.candidate_decision == HANDOFF for r in records if r.live_decision == HANDOFF)


def test_a_failing_candidate_changes_nothing_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken() -> EmpathyPolicy:
        raise RuntimeError("candidate exploded")

    assert converse(mode(tmp_path, broken), 3) == converse(None, 3)
    assert "shadow scoring failed" in caplog.text


def test_opted_out_customers_are_never_scored_in_shadow(tmp_path: Path) -> None:
    asked = []

    def spy() -> EmpathyPolicy:
        asked.append(1)
        return candidate_policy()

    shadow = mode(tmp_path, spy)
    assert converse(shadow, 11, opted_out=True) == converse(None, 11, opted_out=True)
    assert asked == [] and shadow.pending() == 0
    converse(shadow, 11)  # the same conversation with emotion processing on is scored
    assert asked and shadow.pending() == len(asked)


def test_records_hold_no_message_text(tmp_path: Path) -> None:
    shadow = mode(tmp_path)
    converse(shadow, 5)
    shadow.flush()
    with ShadowLog.open(f"sqlite:///{tmp_path / 'shadow-store.db'}").engine.connect() as connection:
        dump = json.dumps([list(row) for row in connection.exec_driver_sql("SELECT * FROM attune_shadow")])
    assert dump.count("web:conversation-5") >= 2
    assert not any(text.lower() in dump.lower() for text in GENERATED_TEXTS)


def test_a_failed_write_keeps_the_records_for_the_next_pass(tmp_path: Path) -> None:
    class Down:
        def write(self, records: Any) -> int:
            raise OSError("disk full")

    shadow = ShadowMode(ShadowSettings(True), candidate_policy, lambda: Down(), lambda: NOW)  # type: ignore[arg-type, return-value]
    converse(shadow, 2)
    waiting = shadow.pending()
    with pytest.raises(OSError):
        shadow.flush()
    assert waiting > 0 and shadow.pending() == waiting


def test_memory_is_bounded_records_dropped_are_counted_and_carries_evicted(tmp_path: Path) -> None:
    shadow = mode(tmp_path, max_conversations=1, max_pending=3)
    converse(shadow, 1)
    converse(shadow, 2)
    assert shadow.pending() == 3 and shadow.dropped == len(generated_turns(1)) + len(generated_turns(2)) - 3
    converse(shadow, 1)  # evicted by conversation 2: starts again from the live carry
    shadow.flush()
    records = read_records(ShadowLog.open(f"sqlite:///{tmp_path / 'shadow-store.db'}").engine)
    assert records and not any(r.continued for r in records if r.turn == 1)


def test_the_writer_runs_in_the_server_and_writes_what_is_left_when_stopped(tmp_path: Path) -> None:
    shadow = mode(tmp_path)

    async def serve() -> None:
        action = ActionTrackEmpathy(experiments=lambda: (), clock=lambda: NOW, shadow=lambda: shadow)
        event = message("THIS IS USELESS!!!", "complain", emotion="anger", timestamp=5.0)
        shadow_mode.observe(lambda: shadow, "web:x", _live(action, event))
        assert shadow.writer.running
        await shadow.writer.stop()

    asyncio.run(serve())
    assert shadow.pending() == 0 and shadow.written == 1


def _live(action: ActionTrackEmpathy, event: dict[str, Any]) -> Any:
    """The LiveTurn the action hands to shadow mode for one message (captured from a real turn)."""
    captured: list[Any] = []

    class Capture:
        def observe(self, conversation_id: str, live: Any) -> None:
            captured.append(live)

    capturing = ActionTrackEmpathy(experiments=lambda: (), clock=lambda: NOW, shadow=lambda: Capture())  # type: ignore[arg-type, return-value]
    capturing.track(tracker({}, [event], sender="web:x"))
    return captured[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_loading_is_off_unless_enabled_and_usable(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    candidate = write(tmp_path / "candidate.yml", Path("policy/empathy.yml").read_text(encoding="utf-8"))
    assert shadow_mode.load(tmp_path / "absent.yml", url) is None
    assert shadow_mode.load("policy/shadow.yml", url) is None  # shipped off
    assert "shadow mode off" not in caplog.text
    off = write(tmp_path / "off.yml", f"enabled: false\ncandidate_policy: {candidate}\n")
    assert shadow_mode.load(off, url) is None
    for bad, says in (
        ("enabled: [", "shadow mode off"),
        ("enabled: true\ncandidate: x\n", "unknown key"),
        (f"enabled: true\ncandidate_policy: {tmp_path / 'missing.yml'}\n", "missing.yml"),
        ("enabled: true\ncandidate_policy: policy/experiments.yml\n", "policy/experiments.yml"),
    ):
        caplog.clear()
        assert shadow_mode.load(write(tmp_path / "bad.yml", bad), url) is None
        assert says in caplog.text
    on = shadow_mode.load(
        write(tmp_path / "on.yml", f"enabled: true\nname: v2\ncandidate_policy: {candidate}\n"), url
    )
    assert on is not None and on.settings.name == "v2"


def test_the_server_runs_the_writer_only_when_shadow_mode_is_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert all(task.name != "shadow record writer" for task in bootstrap.services().background_tasks())
    candidate = write(tmp_path / "candidate.yml", Path("policy/empathy.yml").read_text(encoding="utf-8"))
    monkeypatch.setenv(
        "ATTUNE_SHADOW", str(write(tmp_path / "on.yml", f"enabled: true\ncandidate_policy: {candidate}\n"))
    )
    bootstrap.reset()
    assert any(task.name == "shadow record writer" for task in bootstrap.services().background_tasks())
    assert "shadow mode on" in caplog.text
