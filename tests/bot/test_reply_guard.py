"""A turn whose policies predict ``action_listen`` straight after the customer's message still answers.

Rasa's own ``MessageProcessor._run_prediction_loop`` and ``_run_action`` run; only the policies are
replaced by a list of predictions (no model is loaded).
"""

from collections.abc import Iterator

import pytest
from rasa.core.actions.action import Action, action_for_name_or_text
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.policies.policy import PolicyPrediction
from rasa.core.processor import MessageProcessor
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    Event,
    Restarted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.components import reply_guard
from bot.components.reply_guard import REPLY, REPLY_GUARD, unanswered

NOT_UNDERSTOOD = "Sorry, I didn't quite get that."
DOMAIN = Domain.from_yaml(
    f"""
version: "3.1"
intents: [delivery_problem, greet]
responses:
  {REPLY}:
    - text: "{NOT_UNDERSTOOD}"
  utter_greet:
    - text: "Hello!"
"""
)


@pytest.fixture
def guarded() -> Iterator[None]:
    reply_guard.install()  # tests/bot/conftest.py puts Rasa back afterwards
    yield


def processor(predictions: list[str]) -> MessageProcessor:
    """Rasa's processor with the policies replaced by ``predictions``, in order."""
    found = MessageProcessor.__new__(MessageProcessor)
    found.domain = DOMAIN
    found.action_endpoint = None
    found.nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    queue = list(predictions)

    def predict(tracker: DialogueStateTracker) -> tuple[Action, PolicyPrediction]:
        name = queue.pop(0)
        action = action_for_name_or_text(name, DOMAIN, None)
        return action, PolicyPrediction.for_action_name(DOMAIN, name, "TEDPolicy", 0.53)

    found.predict_next_with_tracker_if_should = predict
    return found


def conversation(*events: Event) -> DialogueStateTracker:
    return DialogueStateTracker.from_events(
        "rest:customer", [ActionExecuted(ACTION_LISTEN_NAME), *events], slots=DOMAIN.slots
    )


def customer_says(text: str = "can someone actually help, 8 days waiting for my bag") -> UserUttered:
    return UserUttered(text, intent={"name": "delivery_problem", "confidence": 0.77})


async def turn(tracker: DialogueStateTracker, predictions: list[str]) -> list[str]:
    """What the customer is sent when the policies predict ``predictions`` for this turn."""
    channel = CollectingOutputChannel()
    await processor(predictions)._run_prediction_loop(channel, tracker)
    return [str(message.get("text")) for message in channel.messages]


async def test_a_listen_right_after_the_message_is_preceded_by_the_default_reply(guarded: None) -> None:
    tracker = conversation(customer_says())

    sent = await turn(tracker, [ACTION_LISTEN_NAME])

    assert sent == [NOT_UNDERSTOOD]
    after_message = list(tracker.events)[2:]
    assert [type(e) for e in after_message] == [ActionExecuted, BotUttered, ActionExecuted]
    said, _, listened = after_message
    assert isinstance(said, ActionExecuted) and isinstance(listened, ActionExecuted)
    assert (said.action_name, said.policy) == (REPLY, REPLY_GUARD)
    assert listened.action_name == ACTION_LISTEN_NAME  # the turn still ends listening


async def test_without_the_guard_rasa_sends_nothing() -> None:
    """What the guard is for: Rasa as shipped leaves the customer without a reply."""
    tracker = conversation(customer_says())

    assert await turn(tracker, [ACTION_LISTEN_NAME]) == []


async def test_a_turn_that_answered_is_left_alone(guarded: None) -> None:
    tracker = conversation(UserUttered("hi", intent={"name": "greet", "confidence": 0.99}))

    assert await turn(tracker, ["utter_greet", ACTION_LISTEN_NAME]) == ["Hello!"]


async def test_a_paused_conversation_stays_silent_for_the_person_who_has_it(guarded: None) -> None:
    tracker = conversation(ConversationPaused(), customer_says())

    assert await turn(tracker, [ACTION_LISTEN_NAME]) == []


def test_only_a_customers_message_in_the_running_turn_counts_as_unanswered() -> None:
    assert unanswered(conversation(customer_says()))
    assert not unanswered(conversation())  # no message at all
    assert not unanswered(conversation(customer_says(), BotUttered("Hello!")))
    assert not unanswered(conversation(customer_says(), ActionExecuted(ACTION_LISTEN_NAME)))
    assert not unanswered(conversation(customer_says(), Restarted()))
    # The idle CSAT trigger's intent (handoff/analytics/idle_worker.py): no customer message to answer.
    assert not unanswered(conversation(UserUttered.create_external("EXTERNAL_csat_idle")))


def test_install_wraps_rasa_once() -> None:
    original = MessageProcessor._run_action

    reply_guard.install()
    reply_guard.install()

    assert MessageProcessor._run_action.__wrapped__ is original
