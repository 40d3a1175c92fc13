"""Routes the empathy engine's escalation decision into the dialogue.

The decision is made by the action server (bot/empathy/escalation.py via action_track_empathy,
which Rasa runs on every user message as a custom slot mapping) and lands in the ``escalation``
slot during the user's turn.  This policy turns a *fresh* decision (set after the latest user
message) into the matching action, ahead of stories and rules, so designers do not have to
repeat "offer a human" after every intent.  It abstains otherwise, and while the customer is
giving the details of a call-back (callback_form) it makes no offers: only a handoff the customer
asked for interrupts the form.
"""

from typing import Any

from rasa.core.policies.policy import Policy, PolicyPrediction
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.generator import TrackerWithCachedStates
from rasa.shared.core.trackers import DialogueStateTracker

SLOT = "escalation"
CALLBACK_FORM = "callback_form"
ACTIONS = {
    "handoff": "action_handoff",
    "offer_human": "action_offer_human",
    "offer_callback": "action_offer_callback",
}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.POLICY_WITHOUT_END_TO_END_SUPPORT, is_trainable=True)
class EscalationPolicy(Policy):
    """Predicts the escalation action for a decision made in this turn, then listens."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # Above RulePolicy (6): an escalation comes before the regular answer.
        return {"priority": 7}

    def train(
        self, training_trackers: list[TrackerWithCachedStates], domain: Domain, **kwargs: Any
    ) -> Resource:
        return self._resource  # nothing to learn: the decision is made by the empathy engine

    @staticmethod
    def pending_action(tracker: DialogueStateTracker) -> str | None:
        """The escalation action still to run in this turn, or None."""
        # A separate "found" flag, not "decision is None": a decision cleared later in the turn
        # (SlotSet to None) is the latest word and must not let an earlier one through.
        found, decision = False, None
        for event in reversed(tracker.events):
            if isinstance(event, UserUttered):
                break
            if isinstance(event, ActionExecuted) and event.action_name in ACTIONS.values():
                return None  # already acted on in this turn
            if isinstance(event, SlotSet) and event.key == SLOT and not found:
                found, decision = True, event.value
        return ACTIONS.get(str(decision)) if decision else None

    def predict_action_probabilities(
        self,
        tracker: DialogueStateTracker,
        domain: Domain,
        rule_only_data: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> PolicyPrediction:
        probabilities = self._default_predictions(domain)
        action = self.pending_action(tracker)
        if tracker.active_loop_name == CALLBACK_FORM and action != ACTIONS["handoff"]:
            action = None  # an offer now would interrupt the call-back the customer is booking
        if action is None and tracker.latest_action_name in ACTIONS.values():
            action = ACTION_LISTEN_NAME  # wait for the customer's answer to the offer
        if action is not None and action in domain.action_names_or_texts:
            probabilities[domain.index_for_action(action)] = 1.0
        return self._prediction(probabilities)
