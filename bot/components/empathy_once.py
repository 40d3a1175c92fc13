"""action_track_empathy is posted to the action server once per customer message, not again.

Rasa 3.6 runs slot extraction, and with it action_track_empathy (the custom mapping of the
``frustration`` slot in domain.yml), for each user message before it predicts, and a second time
when a form activates in the same turn (``FormAction.activate``).  The action scores each message
once (the ``scored`` key of its ``empathy_state``, actions/empathy_tracking.py) and answers the
repeat with no events, but Rasa has still posted the whole tracker and the domain to the action
server for that answer: one of the two or three calls of every turn that starts a form, 4 of 18
calls in a 9-message conversation (docs/tracker-budget.md, "One action-server call per message").

``install`` wraps ``RemoteAction.run`` once per process.  A call of action_track_empathy for a
message already scored in this turn returns no events here, which is what the action would have
returned, without the round trip.  "Already scored in this turn" is read from the tracker Rasa
would have posted, and is stricter than the action's own test, so it can only skip a repeat:

- an ``empathy_state`` SlotSet follows the latest user message (a call in this turn succeeded and
  stored its state), and
- the slot's value now has ``scored`` equal to that message's key (its message id, else its
  timestamp), which is the test the action itself makes.

The first call of a turn always goes: no state follows the new message yet.  When the first call
failed (no state stored), the repeat goes too and scores the message, as it did before.  The
action's per-call side effects are not lost: a repeat only ever counted an "unchanged" run in the
metrics, and audited nothing.  bot/components/rasa_patches.py installs it with the other speedups
(ATTUNE_RASA_SPEEDUPS=0 leaves them all out, for before/after measurements).
"""

import functools
from collections.abc import Awaitable, Callable
from typing import Any, Final

from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.constants import SLOT_EMPATHY_STATE

# actions/empathy_tracking.py: the action's name, and the state key that names the scored message
# (tests/bot/test_empathy_once.py runs the real action to hold both to it).
TRACK_EMPATHY: Final = "action_track_empathy"
SCORED: Final = "scored"

ActionRun = Callable[..., Awaitable[Any]]


def message_key(message: UserUttered) -> str | None:
    """The key the action stores for a scored message: as it reads it from the posted tracker."""
    key = message.message_id or message.timestamp
    return None if key is None else str(key)


def _latest_message(tracker: DialogueStateTracker) -> tuple[UserUttered | None, bool]:
    """The latest user message, and whether an ``empathy_state`` SlotSet follows it."""
    state_set = False
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return event, state_set
        if isinstance(event, SlotSet) and event.key == SLOT_EMPATHY_STATE:
            state_set = True
    return None, state_set


def already_scored(tracker: DialogueStateTracker) -> bool:
    """Whether action_track_empathy already scored the latest user message in this turn."""
    latest, state_set = _latest_message(tracker)
    if latest is None or not state_set:
        return False
    key = message_key(latest)
    state = tracker.get_slot(SLOT_EMPATHY_STATE)
    return key is not None and isinstance(state, dict) and state.get(SCORED) == key


def once_per_message(run: ActionRun) -> ActionRun:
    """``RemoteAction.run`` that answers a repeat of action_track_empathy itself, with no events."""

    @functools.wraps(run)
    async def run_unless_repeat(
        self: RemoteAction,
        output_channel: Any,
        nlg: Any,
        tracker: DialogueStateTracker,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if self.name() == TRACK_EMPATHY and already_scored(tracker):
            return []
        return await run(self, output_channel, nlg, tracker, *args, **kwargs)

    return run_unless_repeat


@functools.lru_cache(maxsize=1)
def install() -> None:
    """Installs the skip once per process."""
    RemoteAction.run = once_per_message(RemoteAction.run)
