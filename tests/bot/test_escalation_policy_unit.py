"""EscalationPolicy (bot/components/escalation_policy.py) on trackers built inline from events.

The policy is built as Rasa's graph builds it (``create`` with its default config) against the
shipped domain.yml; no model is trained and nothing is served.  Each test is one turn of a
conversation: what the empathy engine decided (the ``escalation`` slot) and what has run since.
"""

from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, Event, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.components.escalation_policy import ACTIONS, CALLBACK_FORM, SLOT, EscalationPolicy

# Rasa 3.6 says so on every domain it loads, whatever the domain holds.
pytestmark = pytest.mark.filterwarnings("ignore:Slot auto-fill has been removed:UserWarning")

ROOT = Path(__file__).resolve().parents[2]
HANDOFF, OFFER_HUMAN, OFFER_CALLBACK = ACTIONS["handoff"], ACTIONS["offer_human"], ACTIONS["offer_callback"]
# How a turn starts: the bot listened, the customer said something.
NEW_TURN: list[Event] = [ActionExecuted(ACTION_LISTEN_NAME), UserUttered("I want to talk to someone")]
RESOURCE = Resource("escalation_policy")


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


@pytest.fixture
def policy(tmp_path: Path) -> EscalationPolicy:
    created = EscalationPolicy.create(
        EscalationPolicy.get_default_config(),
        LocalModelStorage(tmp_path),
        RESOURCE,
        ExecutionContext(GraphSchema({}), "test"),
    )
    assert isinstance(created, EscalationPolicy)
    return created


def tracker(domain: Domain, *events: Event) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("rest:test", list(events), slots=domain.slots)


def predicted(policy: EscalationPolicy, domain: Domain, *events: Event) -> str | None:
    """The one action the policy is sure of, or None when it abstains (every probability 0)."""
    probabilities = policy.predict_action_probabilities(tracker(domain, *events), domain).probabilities
    chosen = [domain.action_names_or_texts[i] for i, p in enumerate(probabilities) if p > 0]
    assert len(chosen) <= 1 and all(p in (0.0, 1.0) for p in probabilities)
    return chosen[0] if chosen else None


def test_the_shipped_domain_has_every_escalation_action_and_the_callback_form(domain: Domain) -> None:
    assert set(ACTIONS.values()) <= set(domain.action_names_or_texts)
    assert CALLBACK_FORM in domain.form_names
    [slot] = [s for s in domain.slots if s.name == SLOT]
    assert {"none", *ACTIONS} <= set(slot.values)


def test_it_outranks_the_rule_policy_and_learns_nothing(policy: EscalationPolicy, domain: Domain) -> None:
    prediction = policy.predict_action_probabilities(
        tracker(domain, *NEW_TURN, SlotSet(SLOT, "handoff")), domain
    )

    assert policy.priority == 7 > 6  # RulePolicy's default priority
    assert (prediction.policy_name, prediction.policy_priority) == ("EscalationPolicy", 7)
    assert policy.train([], domain) == RESOURCE


@pytest.mark.parametrize(("decision", "action"), list(ACTIONS.items()))
def test_a_fresh_decision_runs_its_action(
    policy: EscalationPolicy, domain: Domain, decision: str, action: str
) -> None:
    assert predicted(policy, domain, *NEW_TURN, SlotSet(SLOT, decision)) == action


@pytest.mark.parametrize("decision", ["none", None, "escalate", "HANDOFF", ""])
def test_no_decision_or_an_unknown_one_abstains(
    policy: EscalationPolicy, domain: Domain, decision: str | None
) -> None:
    assert predicted(policy, domain, *NEW_TURN, SlotSet(SLOT, decision)) is None


def test_a_turn_without_a_decision_abstains(policy: EscalationPolicy, domain: Domain) -> None:
    assert predicted(policy, domain) is None  # a new conversation, nothing said yet
    assert predicted(policy, domain, *NEW_TURN, SlotSet("tone", "warm")) is None


def test_a_decision_of_an_earlier_turn_is_not_acted_on_again(
    policy: EscalationPolicy, domain: Domain
) -> None:
    earlier = [*NEW_TURN, SlotSet(SLOT, "handoff"), ActionExecuted(HANDOFF)]

    assert predicted(policy, domain, *earlier, *NEW_TURN) is None
    # Nor one the turn before simply left in the slot without acting (e.g. during the form).
    assert predicted(policy, domain, *NEW_TURN, SlotSet(SLOT, "offer_human"), *NEW_TURN) is None


def test_after_its_action_it_listens_for_the_answer(policy: EscalationPolicy, domain: Domain) -> None:
    for action in ACTIONS.values():
        assert predicted(policy, domain, *NEW_TURN, SlotSet(SLOT, "offer_human"), ActionExecuted(action)) == (
            ACTION_LISTEN_NAME
        )


def test_once_another_action_ran_after_the_escalation_it_abstains(
    policy: EscalationPolicy, domain: Domain
) -> None:
    events = [
        *NEW_TURN,
        SlotSet(SLOT, "offer_human"),
        ActionExecuted(OFFER_HUMAN),
        ActionExecuted("utter_greet"),
    ]

    assert predicted(policy, domain, *events) is None


def test_the_latest_decision_of_the_turn_wins(policy: EscalationPolicy, domain: Domain) -> None:
    assert (
        predicted(policy, domain, *NEW_TURN, SlotSet(SLOT, "offer_human"), SlotSet(SLOT, "handoff"))
        == HANDOFF
    )
    assert predicted(policy, domain, *NEW_TURN, SlotSet(SLOT, "handoff"), SlotSet(SLOT, "none")) is None


def test_a_decision_cleared_later_in_the_turn_is_not_acted_on(
    policy: EscalationPolicy, domain: Domain
) -> None:
    assert predicted(policy, domain, *NEW_TURN, SlotSet(SLOT, "handoff"), SlotSet(SLOT, None)) is None


@pytest.mark.parametrize("decision", ["offer_human", "offer_callback"])
def test_no_offer_interrupts_the_callback_form(
    policy: EscalationPolicy, domain: Domain, decision: str
) -> None:
    events = [ActiveLoop(CALLBACK_FORM), *NEW_TURN, SlotSet(SLOT, decision)]

    assert predicted(policy, domain, *events) is None


def test_a_handoff_interrupts_the_callback_form(policy: EscalationPolicy, domain: Domain) -> None:
    events = [ActiveLoop(CALLBACK_FORM), *NEW_TURN, SlotSet(SLOT, "handoff")]

    assert predicted(policy, domain, *events) == HANDOFF


def test_offers_are_made_during_other_forms(policy: EscalationPolicy, domain: Domain) -> None:
    events = [ActiveLoop("order_form"), *NEW_TURN, SlotSet(SLOT, "offer_human")]

    assert predicted(policy, domain, *events) == OFFER_HUMAN


def test_an_action_the_domain_lacks_is_not_predicted(policy: EscalationPolicy) -> None:
    small = Domain.from_dict(
        {"actions": [HANDOFF], "slots": {SLOT: {"type": "any", "mappings": [{"type": "custom"}]}}}
    )

    assert predicted(policy, small, *NEW_TURN, SlotSet(SLOT, "offer_callback")) is None
    assert predicted(policy, small, *NEW_TURN, SlotSet(SLOT, "handoff")) == HANDOFF
