"""The Rasa patches: one start-up hook installs each of them once, and the cached check of
action-server replies accepts and rejects exactly what Rasa's own does.

tests/bot/conftest.py puts Rasa and the root logger's handlers back after every test.
"""

import logging
from typing import Any

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.core.processor import MessageProcessor
from rasa.core.tracker_store import FailSafeTrackerStore
from sanic import Blueprint

from bot.components import rasa_patches, tracker_store
from bot.components.rasa_patches import install_rasa_patches
from bot.components.turn_guard import guard_server
from handoff.shared.masking import MaskingFilter

GOOD = {"events": [{"event": "slot", "name": "tone", "value": "warm"}], "responses": [{"text": "hi"}]}
BAD = [{"events": "not a list"}, {"events": [{"no": "event key"}]}, {"responses": "nope"}]
PHONE = "+447700900123"


def test_the_same_replies_pass_and_fail_with_rasas_message() -> None:
    original = RemoteAction._validate_action_result
    action = RemoteAction("action_x", None)  # type: ignore[arg-type]

    assert rasa_patches._validate_action_result(action, GOOD) is True
    for reply in BAD:
        with pytest.raises(ValidationError) as rasa_error:
            original(action, reply)
        with pytest.raises(ValidationError) as ours:
            rasa_patches._validate_action_result(action, reply)
        assert ours.value.message == rasa_error.value.message


def maskers(handler: logging.Handler) -> list[Any]:
    return [f for f in handler.filters if isinstance(f, MaskingFilter)]


def test_the_hook_installs_every_patch_once_however_often_it_is_called(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(rasa_patches.SPEEDUPS_VARIABLE, raising=False)
    shipped_run, shipped_run_action = RemoteAction.run, MessageProcessor._run_action

    install_rasa_patches()
    install_rasa_patches()

    assert RemoteAction._validate_action_result is rasa_patches._validate_action_result
    assert FailSafeTrackerStore.on_tracker_store_error is tracker_store._fail_the_request
    assert FailSafeTrackerStore.on_tracker_store_retrieve_error is tracker_store._fail_the_request
    # Wrapped once each, not once per call: empathy_once's wrapper around action_retry's, around Rasa's own.
    assert RemoteAction.run.__wrapped__.__wrapped__ is shipped_run  # type: ignore[attr-defined]
    assert RemoteAction.run.__code__.co_name == "run_unless_repeat"
    # reply_guard's wrapper around action_retry's, around Rasa's own.
    assert MessageProcessor._run_action.__wrapped__.__wrapped__ is shipped_run_action  # type: ignore[attr-defined]
    assert {len(maskers(handler)) for handler in logging.getLogger().handlers} == {1}
    assert maskers(caplog.handler)  # pytest's handler was on the root logger: it masks too


def test_phone_numbers_are_masked_in_the_servers_log_lines_after_start_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    install_rasa_patches()

    logging.getLogger("rasa.core.processor").info("message from sms:%s", PHONE)

    assert "message from sms:" in caplog.text and PHONE not in caplog.text


def test_the_speedup_can_be_turned_off_and_the_other_patches_still_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(rasa_patches.SPEEDUPS_VARIABLE, "0")
    shipped_check = RemoteAction._validate_action_result

    install_rasa_patches()

    assert RemoteAction._validate_action_result is shipped_check
    # The retry still wraps Rasa's run; the repeat of action_track_empathy is posted as before.
    assert RemoteAction.run.__code__.co_name == "run_retrying"
    assert FailSafeTrackerStore.on_tracker_store_error is tracker_store._fail_the_request


def test_building_a_channels_blueprint_installs_the_patches() -> None:
    guard_server(Blueprint("test_rasa_patches_channel"))

    assert RemoteAction._validate_action_result is rasa_patches._validate_action_result
    assert FailSafeTrackerStore.on_tracker_store_error is tracker_store._fail_the_request
    assert hasattr(MessageProcessor._run_action, "__wrapped__")
