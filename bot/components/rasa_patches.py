"""Every change Attune makes to Rasa 3.6 as it runs, installed by one start-up hook.

``install_rasa_patches()`` is that hook.  bot/components/turn_guard.py ``guard_server`` calls it
while Rasa builds its server from credentials.yml (each channel's blueprint, before the model is
loaded), so ``rasa run`` gets every patch with nothing on its command line.  Each patch installs
once per process, however many channels ask:

- the check of action-server replies with its validator built once (below);
- tracker-store errors fail the request instead of being hidden, and the actions that read the
  whole conversation (the handoff payload) are posted it whole when the store loaded a window of a
  long session (bot/components/tracker_store.py);
- a custom action survives a restart of the action server (bot/components/action_retry.py);
- a customer's message is never answered with silence (bot/components/reply_guard.py);
- personal data is masked in the server's log lines: on SMS/WhatsApp the sender id is a phone
  number (``mask_logs``).

Three fixes to the Rasa server's hot path that profiling showed (bench/README.md, "Profile"):

1. Rasa 3.6 checks every action-server reply with ``jsonschema.validate``, which re-checks the
   *schema itself* against the meta-schema on each call: about 20 ms of CPU per custom action, and
   Attune runs one on every message (action_track_empathy).  ``install_reply_check`` swaps in the
   same check with the validator built once.  The schema, the errors and their message are Rasa's
   own.  ATTUNE_RASA_SPEEDUPS=0 turns it off (for before/after measurements).
2. action_track_empathy runs twice in a turn that starts a form; the repeat, which the action
   answers with nothing, is answered Rasa-side instead of posting the whole tracker again
   (bot/components/empathy_once.py).  ATTUNE_RASA_SPEEDUPS=0 leaves it out too.
3. PyTorch's intra-op threads: on a small CPU box, MiniLM encoding a short message in several
   threads while other messages wait only adds contention.  bot/components/sentence_encoder.py
   limits it to ATTUNE_TORCH_THREADS (default 1).
"""

import functools
import os
from typing import Any

from bot.components import action_retry, empathy_once, reply_guard, tracker_store

SPEEDUPS_VARIABLE = "ATTUNE_RASA_SPEEDUPS"


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


def speedups_on() -> bool:
    """False when ATTUNE_RASA_SPEEDUPS=0 leaves the hot-path fixes out."""
    return os.environ.get(SPEEDUPS_VARIABLE, "1") != "0"


@functools.lru_cache(maxsize=1)
def install_reply_check() -> bool:
    """Installs the cached check once per process; False when ATTUNE_RASA_SPEEDUPS=0 turns it off."""
    if not speedups_on():
        return False
    from rasa.core.actions.action import RemoteAction

    RemoteAction._validate_action_result = _validate_action_result
    return True


@functools.lru_cache(maxsize=1)
def mask_logs() -> None:
    """Masks personal data in the Rasa server's log lines (phone numbers are SMS sender ids), once."""
    from handoff.shared.masking import mask_root_log_handlers

    mask_root_log_handlers()


def install_rasa_patches() -> None:
    """Installs every patch listed in the module docstring; calling it again changes nothing."""
    install_reply_check()
    tracker_store.install()
    action_retry.install()
    if speedups_on():
        empathy_once.install()
    reply_guard.install()
    mask_logs()
