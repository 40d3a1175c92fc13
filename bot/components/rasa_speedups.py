"""Two fixes to the Rasa server's hot path that profiling showed (bench/README.md, "Profile").

1. Rasa 3.6 checks every action-server reply with ``jsonschema.validate``, which re-checks the
   *schema itself* against the meta-schema on each call: about 20 ms of CPU per custom action, and
   Attune runs one on every message (action_track_empathy).  ``install`` swaps in the same check
   with the validator built once.  The schema, the errors and their message are Rasa's own.
2. PyTorch's intra-op threads: on a small CPU box, MiniLM encoding a short message in several
   threads while other messages wait only adds contention.  bot/components/sentence_encoder.py
   limits it to ATTUNE_TORCH_THREADS (default 1).

Called once when the Rasa server's channels are set up (bot/components/turn_guard.py ``guard_server``).
ATTUNE_RASA_SPEEDUPS=0 turns the first fix off (for before/after measurements).
"""

import functools
import os
from typing import Any


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import validators
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(schema)  # what jsonschema.validate picks
    cls.check_schema(schema)  # once, as jsonschema.validate would on every call
    return cls(schema)


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    from jsonschema import ValidationError, exceptions
    from rasa.shared.constants import DOCS_BASE_URL

    error = exceptions.best_match(_validator().iter_errors(result))
    if error is None:
        return True
    assert isinstance(error, ValidationError)
    error.message += (
        f". Failed to validate Action server response from API, "
        f"make sure your response from the Action endpoint is valid. "
        f"For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


@functools.lru_cache(maxsize=1)
def install() -> bool:
    """Installs the cached check once per process; False when turned off."""
    if os.environ.get("ATTUNE_RASA_SPEEDUPS", "1") == "0":
        return False
    from rasa.core.actions.action import RemoteAction

    RemoteAction._validate_action_result = _validate_action_result
    return True
