"""CSAT without fatigue (actions/csat.py): when the question is asked, how answers are checked, what is kept.

The clock is a fake one the tests move: "never asked twice within the period" is checked by the day.
"""

from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import csat
from actions.csat import ActionRecordCsat, ValidateCsatForm, parse_score
from actions.csat_ledger import CsatLedger, customer_key
from actions.csat_policy import CsatPolicy, CsatPolicyError, load, parse
from actions.csat_queue import CsatQueue
from bot.empathy.policy import EmpathyPolicy
from tests.support.trackers import user_event

ROOT = Path(__file__).resolve().parents[2]
DAY = 86400.0
START = 1_800_000_000.0


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def verified(customer: str) -> dict[str, Any]:
    """Message metadata as the consent gate writes it for a customer the Rasa server verified."""
    return {"attune": {"customer": customer, "emotion_processing": "on", "identities": []}}


def form_tracker(
    slots: dict[str, Any],
    events: list[dict[str, Any]] | None = None,
    *,
    active: bool = False,
    sender: str = "web:abc",
    customer: str | None = "cust-1",
) -> Tracker:
    metadata = verified(customer) if customer else None
    history = [*(events or []), user_event("nothing_else", "no thanks, that's all", metadata=metadata)]
    if active:
        history.append(user_event("inform", str(slots.get("csat_score") or slots.get("csat_comment") or "")))
    latest = history[-1]
    return Tracker(
        sender_id=sender,
        slots=slots,
        latest_message=latest["parse_data"] | {"text": latest["text"]},
        events=history,
        paused=False,
        followup_action=None,
        active_loop={"name": "csat_form"} if active else {},
        latest_action_name="action_listen",
    )


@pytest.fixture
def ledger(tmp_path: Path) -> CsatLedger:
    return CsatLedger.open(f"sqlite:///{tmp_path / 'store.db'}")


@pytest.fixture
def queue(tmp_path: Path) -> CsatQueue:
    return CsatQueue.open(f"sqlite:///{tmp_path / 'outbox.db'}")


@pytest.fixture
def empathy() -> EmpathyPolicy:
    return EmpathyPolicy.from_mapping(yaml.safe_load((ROOT / "policy" / "empathy.yml").read_text()))


def validator(
    ledger: CsatLedger, empathy: EmpathyPolicy, clock: FakeClock, **policy: Any
) -> ValidateCsatForm:
    return ValidateCsatForm(
        policy=lambda: CsatPolicy(**{"suppression_days": 30, **policy}),
        empathy=lambda: empathy,
        ledger=lambda: ledger,
        clock=clock,
    )


async def start(
    action: ValidateCsatForm, tracker: Tracker
) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return events, dispatcher


def status_of(events: list[dict[str, Any]]) -> Any:
    return next(e["value"] for e in events if e.get("name") == "csat_status")


# --- scores ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("4", 4),
        (" 5 ", 5),
        ("1", 1),
        ("five", 5),
        ("3/5", 3),
        ("2 out of 5", 2),
        ("4 stars", 4),
        ("Three.", 3),
    ],
)
def test_a_score_from_1_to_5_is_read(text: str, score: int) -> None:
    assert parse_score(text) == score


@pytest.mark.parametrize(
    "text",
    ["0", "6", "10", "-1", "4.5", "great", "", "4 but slow", "٤", "99999999999999999999", None, 4, True],
)
def test_anything_else_is_not_a_score(text: object) -> None:
    assert parse_score(text) is None


# --- the policy file -----------------------------------------------------------------------------


def test_the_shipped_policy_loads() -> None:
    policy = load(ROOT / "policy" / "csat.yml")

    assert policy.enabled is True
    assert 1 <= policy.suppression_days <= 365
    assert policy.suppression_seconds == policy.suppression_days * DAY


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"enabled": True, "suppression_days": 30}, "idle_minutes"),
        ({"enabled": "yes", "suppression_days": 30, "idle_minutes": 15}, "enabled"),
        ({"enabled": True, "suppression_days": 0, "idle_minutes": 15}, "suppression_days"),
        ({"enabled": True, "suppression_days": True, "idle_minutes": 15}, "suppression_days"),
        ({"enabled": True, "suppression_days": 30, "idle_minutes": 99999}, "idle_minutes"),
        ({"enabled": True, "suppression_days": 30, "idle_minutes": 15, "days": 3}, "days"),
        (["enabled"], "mapping"),
    ],
)
def test_a_bad_policy_names_the_key(document: object, named: str) -> None:
    with pytest.raises(CsatPolicyError, match=named):
        parse(document, "csat.yml")


# --- never asked twice within the period (fake clock) -------------------------------------------


def test_the_ledger_lets_a_customer_be_asked_once_per_period(ledger: CsatLedger) -> None:
    key = customer_key("cust-1", "web:abc")
    period = 30 * DAY

    assert ledger.claim(key, START, period) is True
    assert ledger.claim(key, START + 1, period) is False
    assert ledger.claim(key, START + 29 * DAY, period) is False
    assert ledger.last_asked(key) == START  # a refused claim changes nothing
    assert ledger.claim(key, START + 30 * DAY, period) is True
    assert ledger.claim(key, START + 31 * DAY, period) is False


async def test_never_asked_twice_within_the_period_across_conversations_and_channels(
    ledger: CsatLedger, empathy: EmpathyPolicy
) -> None:
    clock = FakeClock()
    action = validator(ledger, empathy, clock)
    asked = []
    # Every 12 hours for 90 days, alternately on the web chat and by SMS: asked on days 0, 30, 60.
    for step in range(180):
        clock.now = START + step * DAY / 2
        sender = "web:abc" if step % 2 else "sms:+447911123456"
        events, dispatcher = await start(action, form_tracker({}, sender=sender))
        if status_of(events) == "asked":
            asked.append(clock.now)
        assert dispatcher.messages == []  # the form asks; the validation never talks at the start

    assert [(t - START) / DAY for t in asked] == [0.0, 30.0, 60.0]


async def test_an_unverified_customer_is_counted_per_conversation(
    ledger: CsatLedger, empathy: EmpathyPolicy
) -> None:
    clock = FakeClock()
    action = validator(ledger, empathy, clock)

    first, _ = await start(action, form_tracker({}, sender="web:one", customer=None))
    again, _ = await start(action, form_tracker({}, sender="web:one", customer=None))
    other, _ = await start(action, form_tracker({}, sender="web:two", customer=None))

    assert [status_of(first), status_of(again), status_of(other)] == ["asked", "recently_asked", "asked"]


# --- suppression ---------------------------------------------------------------------------------


async def test_a_suppressed_question_ends_the_form_before_asking(
    ledger: CsatLedger, empathy: EmpathyPolicy
) -> None:
    events, dispatcher = await start(validator(ledger, empathy, FakeClock(), enabled=False), form_tracker({}))

    assert events == [SlotSet("csat_status", "disabled"), SlotSet("requested_slot", None)]
    assert dispatcher.messages == []
    assert ledger.last_asked(customer_key("cust-1", "web:abc")) is None  # not asked: not counted


@pytest.mark.parametrize("handoff_status", ["delivered", "queued"])
async def test_not_asked_while_still_waiting_for_a_person(
    ledger: CsatLedger, empathy: EmpathyPolicy, handoff_status: str
) -> None:
    events, _ = await start(
        validator(ledger, empathy, FakeClock()), form_tracker({"handoff_status": handoff_status})
    )

    assert status_of(events) == "waiting"
    assert ledger.last_asked(customer_key("cust-1", "web:abc")) is None


async def test_asked_after_a_person_resolved_the_handoff(ledger: CsatLedger, empathy: EmpathyPolicy) -> None:
    events, _ = await start(
        validator(ledger, empathy, FakeClock()), form_tracker({"handoff_status": "resolved"})
    )

    assert status_of(events) == "asked"


def turn_record(distress: float) -> dict[str, Any]:
    record = {"v": 1, "turn": 1, "emotion_processing": "on", "frustration": 0.1, "distress": distress}
    return {"event": "slot", "name": "turn_record", "value": record}


async def test_not_asked_after_a_distress_conversation(ledger: CsatLedger, empathy: EmpathyPolicy) -> None:
    above = empathy.distress_threshold + 0.05
    # Distress high earlier in the conversation, calm by the end: still not asked.
    history = [turn_record(0.1), turn_record(above), turn_record(0.05)]

    events, _ = await start(validator(ledger, empathy, FakeClock()), form_tracker({}, history))

    assert status_of(events) == "distress"


async def test_distress_below_the_threshold_does_not_suppress(
    ledger: CsatLedger, empathy: EmpathyPolicy
) -> None:
    history = [turn_record(empathy.distress_threshold - 0.05)]

    events, _ = await start(validator(ledger, empathy, FakeClock()), form_tracker({}, history))

    assert status_of(events) == "asked"


# --- answers -------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["0", "6", "excellent"])
async def test_a_bad_score_is_refused_politely_then_asked_again(
    ledger: CsatLedger, empathy: EmpathyPolicy, bad: str
) -> None:
    tracker = form_tracker(
        {"csat_score": bad, "csat_status": "asked", "requested_slot": "csat_score"}, active=True
    )

    events, dispatcher = await start(validator(ledger, empathy, FakeClock()), tracker)

    assert events == [SlotSet("csat_score", None), SlotSet("csat_status", "asked_again")]
    assert [m["response"] for m in dispatcher.messages] == ["utter_csat_bad_score"]


async def test_a_second_bad_score_ends_the_question_without_nagging(
    ledger: CsatLedger, empathy: EmpathyPolicy
) -> None:
    tracker = form_tracker(
        {"csat_score": "seven", "csat_status": "asked_again", "requested_slot": "csat_score"}, active=True
    )

    events, dispatcher = await start(validator(ledger, empathy, FakeClock()), tracker)

    assert events == [
        SlotSet("csat_score", None),
        SlotSet("csat_status", "declined"),
        SlotSet("requested_slot", None),
    ]
    assert dispatcher.messages == []


async def test_a_good_score_is_kept_as_its_digit(ledger: CsatLedger, empathy: EmpathyPolicy) -> None:
    tracker = form_tracker(
        {"csat_score": "four", "csat_status": "asked", "requested_slot": "csat_score"}, active=True
    )

    events, _ = await start(validator(ledger, empathy, FakeClock()), tracker)

    assert events == [SlotSet("csat_score", "4")]


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("skip", ""),
        ("No thanks", ""),
        ("quick\x00 and\n friendly", "quick and friendly"),
        ("x" * 5000, "x" * 1000),
    ],
)
async def test_the_comment_is_cleaned_or_skipped(
    ledger: CsatLedger, empathy: EmpathyPolicy, typed: str, kept: str
) -> None:
    tracker = form_tracker(
        {"csat_score": "4", "csat_comment": typed, "csat_status": "asked", "requested_slot": "csat_comment"},
        active=True,
    )

    events, _ = await start(validator(ledger, empathy, FakeClock()), tracker)

    assert events == [SlotSet("csat_comment", kept)]


async def test_the_answer_is_set_for_analytics_queued_once_and_the_form_cleared(queue: CsatQueue) -> None:
    action = ActionRecordCsat(queue=lambda: queue, clock=FakeClock())
    tracker = form_tracker({"csat_score": "4", "csat_comment": "", "csat_status": "asked"})
    dispatcher = CollectingDispatcher()

    events = await action.run(dispatcher, tracker, {})
    await action.run(CollectingDispatcher(), tracker, {})  # Rasa retried the action: the same answer

    assert events == [
        SlotSet("csat_answer", {"score": 4, "comment": None}),
        SlotSet("csat_score", None),
        SlotSet("csat_comment", None),
        SlotSet("csat_status", None),
    ]
    assert [m["response"] for m in dispatcher.messages] == ["utter_csat_thanks"]
    assert queue.pending_count() == 1
    item = queue.due(START + 1)[0]
    assert item.body == {
        "answer_id": csat.answer_id(tracker),
        "conversation_id": "web:abc",
        "score": 4,
        "comment": None,
    }


@pytest.mark.parametrize("status", ["recently_asked", "distress", "waiting", "declined", None])
async def test_no_answer_means_the_plain_goodbye_and_nothing_kept(
    queue: CsatQueue, status: str | None
) -> None:
    action = ActionRecordCsat(queue=lambda: queue, clock=FakeClock())
    dispatcher = CollectingDispatcher()

    events = await action.run(dispatcher, form_tracker({"csat_status": status, "csat_score": "5"}), {})

    assert [m["response"] for m in dispatcher.messages] == ["utter_goodbye"]
    assert not any(e.get("name") == "csat_answer" for e in events)
    assert queue.pending_count() == 0


async def test_a_broken_ledger_ends_the_question_quietly(empathy: EmpathyPolicy) -> None:
    def broken() -> CsatLedger:
        raise RuntimeError("database down")

    action = ValidateCsatForm(policy=CsatPolicy, empathy=lambda: empathy, ledger=broken, clock=FakeClock())
    events, dispatcher = await start(action, form_tracker({}))

    assert status_of(events) == "declined"
    assert SlotSet("requested_slot", None) in events
    assert dispatcher.messages == []


def test_the_action_server_reads_the_shipped_policy_unless_told_otherwise() -> None:
    from actions.settings import ActionServerSettings

    assert ROOT / ActionServerSettings.from_env({}).csat_policy_file == ROOT / "policy" / "csat.yml"
    other = ActionServerSettings.from_env({"ATTUNE_CSAT_POLICY": "/etc/csat.yml"})
    assert other.csat_policy_file == "/etc/csat.yml"


# --- the idle trigger (EXTERNAL_csat_idle, handoff/analytics/idle_worker.py) -------------------------


def idle_tracker(slots: dict[str, Any], sender: str = "web:abc", customer: str | None = "cust-1") -> Tracker:
    """A thank-you from a verified customer, the bot's "anything else?", then silence: the handoff
    service's triggered intent, a user event Rasa marks external and that carries no channel metadata.
    """
    metadata = verified(customer) if customer else None
    history = [
        user_event("thank", "thanks!", metadata=metadata),
        {"event": "action", "name": "utter_you_are_welcome"},
        {"event": "action", "name": "action_listen"},
        user_event("EXTERNAL_csat_idle", "EXTERNAL: EXTERNAL_csat_idle", metadata={"is_external": True}),
    ]
    return Tracker(
        sender_id=sender,
        slots=slots,
        latest_message=history[-1]["parse_data"] | {"text": history[-1]["text"]},
        events=history,
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


async def test_the_idle_trigger_counts_for_the_customer_who_wrote_not_for_the_trigger(
    ledger: CsatLedger, empathy: EmpathyPolicy
) -> None:
    clock = FakeClock()
    action = validator(ledger, empathy, clock)

    events, _ = await start(action, idle_tracker({}, sender="sms:+447911123456"))

    assert status_of(events) == "asked"
    # Recorded for the verified customer (from their own message), so no other channel asks again.
    assert ledger.last_asked(customer_key("cust-1", "sms:+447911123456")) == START
    assert ledger.last_asked(customer_key(None, "sms:+447911123456")) is None


async def test_never_asked_twice_when_the_idle_trigger_follows_a_no_thanks(
    ledger: CsatLedger, empathy: EmpathyPolicy, queue: CsatQueue
) -> None:
    clock = FakeClock()
    action = validator(ledger, empathy, clock)
    # "No thanks" asked at once; the idle trigger races it (same moment), then comes back on later days.
    said_no, _ = await start(action, form_tracker({}))
    statuses = []
    for day in (0, 1, 29):
        clock.now = START + day * DAY
        events, dispatcher = await start(action, idle_tracker({}))
        statuses.append(status_of(events))
        assert dispatcher.messages == []
    clock.now = START + 30 * DAY
    after_the_period, _ = await start(action, idle_tracker({}))

    assert status_of(said_no) == "asked"
    assert statuses == ["recently_asked"] * 3
    assert status_of(after_the_period) == "asked"


@pytest.mark.parametrize(
    ("slots", "status"),
    [({"handoff_status": "queued"}, "waiting"), ({"handoff_status": "delivered"}, "waiting")],
)
async def test_the_idle_trigger_is_refused_like_that_s_all_while_a_person_is_awaited(
    ledger: CsatLedger, empathy: EmpathyPolicy, slots: dict[str, Any], status: str
) -> None:
    events, _ = await start(validator(ledger, empathy, FakeClock()), idle_tracker(slots))

    assert status_of(events) == status
    assert ledger.last_asked(customer_key("cust-1", "web:abc")) is None


def test_the_idle_trigger_is_no_customer_turn_for_empathy_tracking() -> None:
    from actions.empathy_tracking import ActionTrackEmpathy

    # No turn record (analytics would count a customer turn), no score, no "fast reply".
    assert ActionTrackEmpathy().track(idle_tracker({})) == []


@pytest.mark.parametrize("status", ["recently_asked", "distress", "waiting", "disabled"])
async def test_a_question_the_idle_trigger_did_not_ask_ends_without_a_word(
    queue: CsatQueue, status: str
) -> None:
    action = ActionRecordCsat(queue=lambda: queue, clock=FakeClock())
    dispatcher = CollectingDispatcher()

    events = await action.run(dispatcher, idle_tracker({"csat_status": status}), {})

    assert dispatcher.messages == []  # no goodbye to a customer who may have gone
    assert SlotSet("csat_status", None) in events
    assert queue.pending_count() == 0


# --- after a person resolved the handoff, on the trained model --------------------------------------
# The handback is sent by the handoff service (handoff/core/rasa_client.py ``say_handed_back``), not
# predicted, so no conversation test can hold it: these build the tracker it leaves and ask the
# trained model (ATTUNE_TEST_MODEL) what follows the customer's reply.


def handed_back(*, resolved: bool, reply_intent: str, reply: str) -> list[Any]:
    """A conversation handed to a person and, when ``resolved``, handed back; then the reply."""
    from rasa.shared.core.events import (
        ActionExecuted,
        BotUttered,
        ConversationPaused,
        ConversationResumed,
        SessionStarted,
        SlotSet,
        UserUttered,
    )

    def user(text: str, intent: str) -> UserUttered:
        return UserUttered(text, {"name": intent, "confidence": 0.99})

    events: list[Any] = [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        user("can I talk to a person please", "request_human"),
        ActionExecuted("action_handoff"),
        SlotSet("handoff_status", "delivered"),
        ActionExecuted("action_listen"),
        ConversationPaused(),
        user("my parcel never came", "order_status"),
        ActionExecuted("utter_agent_message"),
        BotUttered("Sam: I've sent a new one today."),
        ActionExecuted("action_listen"),
    ]
    if resolved:  # what say_handed_back appends after the resume
        events += [
            ConversationResumed(),
            ActionExecuted("utter_handback"),
            BotUttered(
                "You're back with Pip, Parcelpine's assistant. Is there anything else I can help with?"
            ),
            SlotSet("handoff_status", "resolved"),
            SlotSet("failed_attempts", 0.0),
            ActionExecuted("action_listen"),
        ]
    else:  # resumed by the agent's last message, without the handback (not what resolve does)
        events.append(ConversationResumed())
    return [*events, user(reply, reply_intent)]


@pytest.fixture(scope="module")
def trained_agent() -> Any:
    from rasa.core.agent import Agent

    from tests.support.stack import trained_model

    # Prediction only: no Rasa patches (installing them here would leak into every later test).
    return Agent.load(str(trained_model()))


def next_action(agent: Any, events: list[Any]) -> str:
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = DialogueStateTracker.from_events("web:" + "c" * 32, events, agent.domain.slots)
    prediction = agent.processor.predict_next_with_tracker(tracker)
    best = max(prediction["scores"], key=lambda s: s["score"])
    return str(best["action"])


@pytest.mark.integration
@pytest.mark.filterwarnings("ignore:Slot auto-fill has been removed:UserWarning")
@pytest.mark.parametrize(
    ("reply_intent", "reply"), [("deny", "no"), ("goodbye", "bye"), ("nothing_else", "that's all")]
)
def test_after_a_person_resolved_the_handoff_the_reply_to_anything_else_starts_the_csat_question(
    trained_agent: Any, reply_intent: str, reply: str
) -> None:
    events = handed_back(resolved=True, reply_intent=reply_intent, reply=reply)

    assert next_action(trained_agent, events) == "csat_form"


@pytest.mark.integration
@pytest.mark.filterwarnings("ignore:Slot auto-fill has been removed:UserWarning")
def test_bye_without_the_handback_is_the_plain_goodbye(trained_agent: Any) -> None:
    events = handed_back(resolved=False, reply_intent="goodbye", reply="bye")

    assert next_action(trained_agent, events) == "utter_goodbye"


@pytest.mark.integration
@pytest.mark.filterwarnings("ignore:Slot auto-fill has been removed:UserWarning")
@pytest.mark.parametrize("resolved", [True, False])
def test_silence_after_anything_else_starts_the_csat_question(trained_agent: Any, resolved: bool) -> None:
    from rasa.shared.core.events import UserUttered

    events = handed_back(resolved=resolved, reply_intent="thank", reply="thanks")[:-1]
    events.append(UserUttered.create_external("EXTERNAL_csat_idle"))

    assert next_action(trained_agent, events) == "csat_form"
