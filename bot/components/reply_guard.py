"""No customer message is answered with silence: a turn that would end without a reply says ``utter_default``.

Rasa ends a turn when the dialogue policies predict ``action_listen``.  Nothing stops a policy from
predicting it straight after the customer's message: TEDPolicy did, while the order form waited for a
number and the message had none (the form rejected it and no rule covered the intent; replayed TWCS
threads, data/rules/rules.yml), and the customer got no reply at all.  House rule: a customer always
gets a true reply.

``install()`` wraps Rasa's ``MessageProcessor._run_action``, the one place every action of a turn
runs.  Before an ``action_listen`` that would end a turn in which the customer's latest message got no
bot message (``unanswered``), ``utter_default`` runs ("Sorry, I didn't quite get that. Could you say
it another way? ..."), which is true: the bot did not know what to do with the message.  It runs as
any response does, so it is sent on the customer's channel and stored in the tracker, predicted by
``REPLY_GUARD`` (the tracker tells why it was said; the log says so at WARNING).

Silence stays when it is meant: a paused conversation (a person has it, handoff/core/rasa_client.py;
Rasa predicts nothing for it anyway), and a turn with no customer message in it (a restart, a session
start, an ``/execute`` after the turn ended, an intent triggered through Rasa's API: the idle CSAT
trigger's, which ends silently when the question is not asked).
"""

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from rasa.core.actions.action import Action, action_for_name_or_text
from rasa.core.channels.channel import OutputChannel
from rasa.core.nlg import NaturalLanguageGenerator
from rasa.core.policies.policy import PolicyPrediction
from rasa.core.processor import MessageProcessor
from rasa.shared.core.constants import ACTION_LISTEN_NAME, IS_EXTERNAL
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Restarted,
    SessionStarted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)

# What the customer is told when the bot had nothing to say (domain.yml, tone-aware).
REPLY: Final = "utter_default"
# The "policy" the tracker names for that reply.
REPLY_GUARD: Final = "ReplyGuard"

RunAction = Callable[..., Awaitable[bool]]


def unanswered(tracker: DialogueStateTracker) -> bool:
    """Whether the customer's latest message is in the turn now running and nothing was said to it."""
    if tracker.is_paused():
        return False
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            # A triggered intent (Rasa marks it external) is not the customer writing.
            return not (event.metadata or {}).get(IS_EXTERNAL)
        if isinstance(event, BotUttered | Restarted | SessionStarted):
            return False
        if isinstance(event, ActionExecuted) and event.action_name == ACTION_LISTEN_NAME:
            return False  # that turn has ended already
    return False


def guarded(run_action: RunAction) -> RunAction:
    """``MessageProcessor._run_action`` that says ``REPLY`` before a listen that would end a silent turn."""

    @functools.wraps(run_action)
    async def run_action_or_reply_first(
        self: MessageProcessor,
        action: Action,
        tracker: DialogueStateTracker,
        output_channel: OutputChannel,
        nlg: NaturalLanguageGenerator,
        prediction: PolicyPrediction,
    ) -> bool:
        if action.name() == ACTION_LISTEN_NAME and unanswered(tracker):
            logger.warning(
                "conversation %r: the turn would end without a reply; saying %s", tracker.sender_id, REPLY
            )
            reply = action_for_name_or_text(REPLY, self.domain, self.action_endpoint)
            said = PolicyPrediction.for_action_name(self.domain, REPLY, REPLY_GUARD)
            await run_action(self, reply, tracker, output_channel, nlg, said)
        return await run_action(self, action, tracker, output_channel, nlg, prediction)

    return run_action_or_reply_first


@functools.lru_cache(maxsize=1)
def install() -> None:
    """Wraps Rasa's ``MessageProcessor._run_action``, once per process."""
    MessageProcessor._run_action = guarded(MessageProcessor._run_action)
