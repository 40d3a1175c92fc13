"""The cached check of action-server replies accepts and rejects exactly what Rasa's own does."""

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from bot.components import rasa_speedups

GOOD = {"events": [{"event": "slot", "name": "tone", "value": "warm"}], "responses": [{"text": "hi"}]}
BAD = [{"events": "not a list"}, {"events": [{"no": "event key"}]}, {"responses": "nope"}]


def test_the_same_replies_pass_and_fail_with_rasas_message() -> None:
    original = RemoteAction._validate_action_result
    action = RemoteAction("action_x", None)  # type: ignore[arg-type]

    assert rasa_speedups._validate_action_result(action, GOOD) is True
    for reply in BAD:
        with pytest.raises(ValidationError) as rasa_error:
            original(action, reply)
        with pytest.raises(ValidationError) as ours:
            rasa_speedups._validate_action_result(action, reply)
        assert ours.value.message == rasa_error.value.message
