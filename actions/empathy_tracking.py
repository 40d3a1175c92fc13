"""action_track_empathy: scores every customer turn, chooses the tone and makes the escalation decision.

Rasa runs it on every user message, before the next action is predicted, because the
``frustration`` slot has a custom mapping naming it (domain.yml) — no story has to mention it.
It may only return SlotSet events there.  It reads the emotion the NLU component put in the
parse data, builds the turn's observation (bot/empathy/signals.py), scores it
(bot/empathy/scoring.py), picks the tone (bot/empathy/tone.py), decides on escalation
(bot/empathy/escalation.py) and stores it in slots.  Any error leaves the slots as they were:
scoring must never break a turn.

What is stored is kept small (issue 18, docs/tracker-budget.md): one compact turn record per turn
(actions/turn_record.py), the other slots only when their value changes, the full explanation
only on the turns the audit log records (a tone change or an escalation decision), and for the
rephrase signal a 512-bit sketch of the latest message's vector in the empathy state (88
characters, bot/empathy/compact_vector.py).  The audit trail and the metrics still see everything
the turn decided.
"""

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import audit_trail, consent, experiment_arm, resources, shadow_mode, turn_record
from actions.contact_history import ContactHistory
from actions.languages import unread_language
from actions.metrics import ActionServerMetrics, record
from bot.constants import (
    NLU_FALLBACK,
    OUT_OF_SCOPE,
    PARSE_EMOTION,
    PARSE_EMOTION_VECTOR,
    REQUEST_HUMAN,
    SLOT_DISTRESS,
    SLOT_EMOTION_OPT_OUT,
    SLOT_EMPATHY_EXPLANATION,
    SLOT_EMPATHY_STATE,
    SLOT_ESCALATION,
    SLOT_EXPERIMENT_EXPOSURE,
    SLOT_FAILED_ATTEMPTS,
    SLOT_FRUSTRATION,
    SLOT_TONE,
    SLOT_TURN_RECORD,
)
from bot.empathy import compact_vector
from bot.empathy.cues import Cues
from bot.empathy.escalation import HANDOFF, OFFER_CALLBACK, OFFER_HUMAN, Decision, EscalationHistory, decide
from bot.empathy.experiments import Experiment
from bot.empathy.policy import EmpathyPolicy
from bot.empathy.scoring import score_turn
from bot.empathy.shadow import LiveTurn
from bot.empathy.signals import RETURN_WINDOW_MINUTES, TurnObservation, compute_signals
from bot.empathy.tone import NEUTRAL, choose_tone

logger = logging.getLogger(__name__)

ESCALATIONS: Final = frozenset({HANDOFF, OFFER_HUMAN, OFFER_CALLBACK})
# Scores the turn record writes and the empathy state carries to the next turn: not stored a third
# time in slots of their own (docs/tracker-budget.md).
NOT_STORED: Final = frozenset({SLOT_FRUSTRATION, SLOT_DISTRESS})
# The empathy state's sketch of the latest scored message's vector (bot/empathy/compact_vector.py),
# for the next message's rephrase signal; states stored before it carry the int8 vector instead.
SKETCH_KEY: Final = "sketch"
LEGACY_VECTOR_KEY: Final = "vector"


def _observation(
    event: dict[str, Any],
    failed_attempts: int | None,
    reply_seconds: float | None,
    returned_after_minutes: float | None = None,
) -> TurnObservation:
    parse = event.get("parse_data") or {}
    emotion = parse.get(PARSE_EMOTION) or {}
    cues = emotion.get("cues")
    # A message in a language the models do not read (actions/languages.py) is scored on what
    # happened in the conversation only: no emotion, no wording, and no intent (the NLU's guess at
    # words it cannot read is no reading of them).
    unread = unread_language(event) is not None
    return TurnObservation(
        text=str(event.get("text") or ""),
        emotion=None if unread else emotion.get("probabilities") or None,
        cues=Cues(**cues) if isinstance(cues, dict) and not unread else None,
        embedding=None if unread else _embedding(emotion),
        intent=None if unread else (parse.get("intent") or {}).get("name"),
        timestamp=event.get("timestamp"),
        reply_seconds=reply_seconds,
        failed_attempts=failed_attempts,
        returned_after_minutes=returned_after_minutes,
    )


def _embedding(emotion: dict[str, Any]) -> list[float] | None:
    """The message vector of an emotion reading: packed (bot/empathy/compact_vector.py), or a list
    of floats as readings before issue 18 carried it.
    """
    packed = compact_vector.unpack(emotion.get(PARSE_EMOTION_VECTOR))
    if packed is not None:
        return packed
    legacy = emotion.get("embedding")
    if isinstance(legacy, list) and legacy and all(isinstance(x, (int, float)) for x in legacy):
        return [float(x) for x in legacy]
    return None


def _previous_observation(previous: dict[str, Any] | None, state: dict[str, Any]) -> TurnObservation | None:
    """The previous message as the rephrase and length signals read it.

    The tracker store keeps no vectors in the parse data (bot/components/tracker_store.py): the
    vector is here only in an empathy state stored before the sketch (``_compared`` reads that),
    and only when that state scored this very message.
    """
    if previous is None:
        return None
    before = _observation(previous, None, None)
    if before.embedding is None and _state_scored(state, previous):
        before = dataclasses.replace(before, embedding=compact_vector.unpack(state.get(LEGACY_VECTOR_KEY)))
    return before


def _state_scored(state: dict[str, Any], event: dict[str, Any]) -> bool:
    """Whether the empathy state's vector or sketch is ``event``'s: a message the action did not
    score (a turn it failed, or one Rasa ran no extraction for) leaves the one before it there.
    """
    key = message_key(event)
    return key is not None and state.get("scored") == key


def _compared(
    current: TurnObservation,
    before: TurnObservation | None,
    sketch: str | None,
    state: dict[str, Any],
    previous: dict[str, Any] | None,
) -> tuple[TurnObservation, TurnObservation | None]:
    """The two messages as the rephrase signal compares them.

    With the previous message's vector at hand, as they are.  With only its sketch (the empathy
    state's), as two unit vectors in a plane at the angle the two sketches estimate: the signal
    reads nothing of the vectors but their cosine (bot/empathy/signals.py), so it reads the estimate.
    """
    if before is None or previous is None or before.embedding is not None or current.embedding is None:
        return current, before
    if not _state_scored(state, previous):
        return current, before
    estimate = compact_vector.similarity(sketch, state.get(SKETCH_KEY))
    if estimate is None:
        return current, before
    across = math.sqrt(max(0.0, 1.0 - estimate * estimate))
    return (
        dataclasses.replace(current, embedding=[1.0, 0.0]),
        dataclasses.replace(before, embedding=[estimate, across]),
    )


def latest_turns(tracker: Tracker) -> tuple[dict[str, Any] | None, dict[str, Any] | None, float | None]:
    """The latest and previous user events, and seconds from the last bot message to the latest one."""
    latest = previous = None
    bot_time = None
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            if latest is None:
                latest = event
            else:
                previous = event
                break
        elif kind == "bot" and latest is not None and bot_time is None:
            bot_time = event.get("timestamp")
    reply = None
    if (
        latest is not None
        and isinstance(bot_time, (int, float))
        and isinstance(latest.get("timestamp"), (int, float))
    ):
        reply = float(latest["timestamp"]) - float(bot_time)
    return latest, previous, reply


def message_key(event: dict[str, Any]) -> str | None:
    """Identifies one user message (Rasa's message id, else its timestamp)."""
    key = event.get("message_id") or event.get("timestamp")
    return None if key is None else str(key)


# What the bot could not understand or help with ("say it another way", "outside what I can do").
NOT_UNDERSTOOD: Final = frozenset({NLU_FALLBACK, OUT_OF_SCOPE})


@dataclass(frozen=True)
class _Turn:
    """The turn being scored and what the empathy state slot carried over from the last one."""

    number: int
    scored: str | None
    failures: int
    explicit: bool
    misunderstood: int
    history: EscalationHistory
    state: dict[str, Any]

    @classmethod
    def read(
        cls, tracker: Tracker, latest: dict[str, Any], state: dict[str, Any], scored: str | None
    ) -> "_Turn":
        intent = (latest.get("parse_data") or {}).get("intent", {}).get("name")
        return cls(
            number=int(state.get("turn", 0)) + 1,
            scored=scored,
            failures=int(tracker.get_slot(SLOT_FAILED_ATTEMPTS) or 0),
            explicit=intent == REQUEST_HUMAN,
            # Messages in a row the bot could not understand or help with: counted in the state slot.
            misunderstood=int(state.get("misunderstood", 0)) + 1 if intent in NOT_UNDERSTOOD else 0,
            history=EscalationHistory.from_dict(state.get("history")),
            state=state,
        )

    def next_state(self, decision: Decision, tone_turns: int, sketch: str | None = None) -> dict[str, Any]:
        """The empathy state slot after this turn; ``sketch``: this message's vector's, for the next turn."""
        return {
            "turn": self.number,
            "tone_turns": tone_turns,
            "history": self.history.after(decision).to_dict(),
            "scored": self.scored,
            "misunderstood": self.misunderstood,
            **({SKETCH_KEY: sketch} if sketch else {}),
        }


@dataclass(frozen=True)
class _TurnSlots:
    """Everything ``action_track_empathy`` decides each turn, in the order it sets it."""

    frustration: float | None
    distress: float | None
    tone: str
    escalation: str
    state: dict[str, Any]
    explanation: dict[str, Any]
    record: turn_record.TurnRecord
    # The tone experiment's exposure (or exclusion), set once per conversation (actions/experiment_arm.py).
    exposure: dict[str, str] | None = None

    def events(self) -> list[dict[str, Any]]:
        """All of it: what the audit trail and the metrics read (``stored`` is what Rasa keeps)."""
        return [
            SlotSet(SLOT_FRUSTRATION, self.frustration),
            SlotSet(SLOT_DISTRESS, self.distress),
            SlotSet(SLOT_TONE, self.tone),
            SlotSet(SLOT_ESCALATION, self.escalation),
            SlotSet(SLOT_EMPATHY_STATE, self.state),
            SlotSet(SLOT_EMPATHY_EXPLANATION, self.explanation),
            SlotSet(SLOT_TURN_RECORD, self.record),
            *([SlotSet(SLOT_EXPERIMENT_EXPOSURE, self.exposure)] if self.exposure else []),
        ]


def stored(tracker: Tracker, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events Rasa keeps from a turn's ``events`` (docs/tracker-budget.md).

    A slot is set only when its value changes, except a fresh escalation decision (the escalation
    policy acts on the SlotSet of this turn).  The full explanation is kept only on a turn whose
    decision is an escalation, which the handoff payload explains with it; every turn is in its
    compact record, and the audit log keeps the full explanation of each tone change and decision.
    """
    slots = {e.get("name"): e.get("value") for e in events if e.get("event") == "slot"}
    escalated = slots.get(SLOT_ESCALATION) in ESCALATIONS
    kept = []
    for event in events:
        name, value = event.get("name"), event.get("value")
        if event.get("event") != "slot":
            kept.append(event)
        elif name in NOT_STORED:
            continue
        elif name == SLOT_EMPATHY_EXPLANATION:
            if escalated:
                kept.append(event)
        elif (name == SLOT_ESCALATION and escalated) or value != tracker.get_slot(str(name)):
            kept.append(event)
    return kept


def _unscored(
    tracker: Tracker,
    turn: _Turn,
    latest: dict[str, Any],
    policy: EmpathyPolicy,
    experiment: Experiment | None = None,
) -> _TurnSlots:
    """The slots of a turn with emotion processing off: no scores, neutral tone.

    Only explicit requests and failed self-service attempts (facts, not feelings) can lead to a human.
    The customer takes no part in a tone experiment: excluded, and the exclusion logged once.
    """
    excluded = experiment_arm.exclude(experiment, turn.state.get(experiment_arm.STATE_KEY))
    decision = decide(
        turn.number, None, turn.explicit, turn.failures, turn.history, policy.escalation, turn.misunderstood
    )
    return _TurnSlots(
        frustration=None,
        distress=None,
        tone=NEUTRAL,
        escalation=decision.kind,
        state={
            **turn.next_state(decision, 0),
            **({experiment_arm.STATE_KEY: excluded.state} if excluded.state else {}),
        },
        explanation={"turn": turn.number, "opted_out": True, "decision": decision.to_dict()},
        record=turn_record.build(tracker, turn.number, latest, NEUTRAL, decision.kind, None),
        exposure=excluded.exposure,
    )


def _carried(state: dict[str, Any], tracker: Tracker, kind: str) -> float:
    """The last turn's score: from the empathy state, or the slot of a conversation stored before."""
    value = state.get(kind, tracker.get_slot(kind))
    return float(value) if isinstance(value, (int, float)) else 0.0


def _opt_out_sync(tracker: Tracker, opted_out: bool) -> list[dict[str, Any]]:
    """Sets the opt-out slot when the customer's choice (from any channel) differs from it."""
    if opted_out == bool(tracker.get_slot(SLOT_EMOTION_OPT_OUT)):
        return []
    return [SlotSet(SLOT_EMOTION_OPT_OUT, opted_out)]


class ActionTrackEmpathy(Action):
    def __init__(
        self,
        contacts: ContactHistory | None = None,
        clock: Callable[[], float] = time.time,
        metrics: Callable[[], ActionServerMetrics] = resources.metrics,
        experiments: Callable[[], tuple[Experiment, ...]] = resources.experiments,
        shadow: Callable[[], shadow_mode.ShadowMode | None] = resources.shadow,
    ) -> None:
        self._contacts = contacts
        self._clock = clock
        self._metrics = metrics
        self._experiments = experiments
        self._shadow = shadow

    def name(self) -> str:
        return "action_track_empathy"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The slots for this turn; never raises (Rasa would drop the turn's slots with a warning)."""
        started = time.perf_counter()
        try:
            resources.mask_logs()  # phone numbers are conversation ids on SMS: keep them out of the logs
            # Handoffs a previous process left in the outbox are retried from start-up by
            # actions/server.py; this is the fallback for a server started without it.
            resources.resume_pending_handoffs()
        except Exception:
            logger.exception("could not start the outbox flusher")
        try:
            events = self.track(tracker)
        except Exception:
            # The turn goes on without a decision: the rules still hand off a customer who asks
            # for a person (data/rules/rules.yml), so nobody is told that no one can be reached.
            logger.exception(
                "empathy tracking failed for conversation %s; slots left unchanged", tracker.sender_id
            )
            record(self._metrics, lambda metrics: metrics.turn_failed(time.perf_counter() - started))
            return []
        # Tone changes and escalation decisions go to the audit log: queued on disk, sent in the
        # background (actions/audit_trail.py); this never raises.
        await audit_trail.record_turn(tracker, events)
        previous_tone = tracker.get_slot(SLOT_TONE)
        # Latency, tone change and decision into the metrics (actions/metrics.py); never raises.
        record(
            self._metrics, lambda metrics: metrics.turn(time.perf_counter() - started, previous_tone, events)
        )
        return stored(tracker, events)

    def track(self, tracker: Tracker) -> list[dict[str, Any]]:
        """All this turn decided, as slot events; none when there is no new customer message to score."""
        latest, previous, reply_seconds = latest_turns(tracker)
        # A triggered intent (the idle CSAT trigger's, marked external by Rasa) is no customer message.
        if latest is None or (latest.get("metadata") or {}).get("is_external") is True:
            return []
        policy = resources.empathy_policy()
        state = tracker.get_slot(SLOT_EMPATHY_STATE) or {}
        # Rasa runs slot extraction again when a form activates in the same turn: score each
        # message once, or the trajectory would count it twice and undo its own decision.
        scored = message_key(latest)
        if scored is not None and state.get("scored") == scored:
            return []
        turn = _Turn.read(tracker, latest, state, scored)
        # The customer's choice, from any of their channels (the consent gate asked the handoff service).
        opted_out = consent.opted_out(tracker, latest)
        if opted_out:
            experiment = experiment_arm.current(self._experiments, self._clock())
            slots = _unscored(tracker, turn, latest, policy, experiment)
        else:
            slots = self._scored(tracker, turn, latest, previous, reply_seconds, policy)
        return [*_opt_out_sync(tracker, opted_out), *slots.events()]

    def _scored(
        self,
        tracker: Tracker,
        turn: _Turn,
        latest: dict[str, Any],
        previous: dict[str, Any] | None,
        reply_seconds: float | None,
        policy: EmpathyPolicy,
    ) -> _TurnSlots:
        """Scores the turn, picks the tone and decides on escalation."""
        returned = None if turn.state.get("return_counted") else self.returned_after(tracker, latest)
        current = _observation(latest, turn.failures, reply_seconds, returned)
        sketch = compact_vector.sketch(current.embedding) if current.embedding else None
        before = _previous_observation(previous, turn.state)
        compared, before = _compared(current, before, sketch, turn.state, previous)
        language = unread_language(latest)
        signals = compute_signals(
            compared,
            before,
            use_emotion=language is None,
            unread_because=f"message in a language the models do not read: {language}",
        )
        carried = (
            _carried(turn.state, tracker, SLOT_FRUSTRATION),
            _carried(turn.state, tracker, SLOT_DISTRESS),
        )
        score = score_turn(signals, *carried, policy)
        # The engine's own tone: the slot holds the wording, neutral in a neutral arm.
        previous_tone = turn.state.get(experiment_arm.ADAPTIVE_TONE_KEY) or tracker.get_slot(SLOT_TONE)
        tone = choose_tone(
            score.frustration.value,
            score.distress.value,
            previous_tone,
            int(turn.state.get("tone_turns", 0)),
            policy.tone,
        )
        decision = decide(
            turn.number,
            score,
            turn.explicit,
            turn.failures,
            turn.history,
            policy.escalation,
            turn.misunderstood,
        )
        # The live decision is made: a candidate policy may now read the same turn, in shadow
        # (docs/shadow.md); it returns nothing and never raises.
        shadow_mode.observe(
            self._shadow,
            tracker.sender_id,
            LiveTurn(
                turn.number,
                signals,
                turn.explicit,
                turn.failures,
                turn.misunderstood,
                *carried,
                previous_tone,
                int(turn.state.get("tone_turns", 0)),
                turn.history,
                score,
                tone.tone,
                decision.kind,
            ),
        )
        # The decision above is made; an experiment changes only the wording of the reply.
        applied = experiment_arm.apply(
            experiment_arm.current(self._experiments, self._clock()),
            turn.state.get(experiment_arm.STATE_KEY),
            experiment_arm.unit_of(tracker, latest),
            tone.tone,
        )
        explanation = {
            "turn": turn.number,
            "opted_out": False,
            # Set when this message's language is one the models do not read: no emotion claim.
            **({"unread_language": language} if language else {}),
            **score.to_dict(),
            "tone": tone.to_dict(),
            "decision": decision.to_dict(),
            "policy_version": policy.version,
            **({"experiment": applied.state} if applied.state else {}),
        }
        return _TurnSlots(
            frustration=round(score.frustration.value, 4),
            distress=round(score.distress.value, 4),
            tone=applied.wording,
            escalation=decision.kind,
            state={
                **turn.next_state(decision, tone.turns_held, sketch),
                "return_counted": bool(turn.state.get("return_counted")) or returned is not None,
                **({experiment_arm.STATE_KEY: applied.state} if applied.state else {}),
                **({experiment_arm.ADAPTIVE_TONE_KEY: tone.tone} if applied.wording != tone.tone else {}),
                SLOT_FRUSTRATION: round(score.frustration.value, 4),
                SLOT_DISTRESS: round(score.distress.value, 4),
            },
            explanation=explanation,
            record=turn_record.build(
                tracker, turn.number, latest, applied.wording, decision.kind, explanation
            ),
            exposure=applied.exposure,
        )

    def returned_after(self, tracker: Tracker, latest: dict[str, Any]) -> float | None:
        """Minutes since this customer left a conversation on another channel (None: no recent one).

        Also records this contact.  Contact history is a nice-to-have signal: any failure here
        is logged and the turn is scored without it.
        """
        # Only who the Rasa server verified (or the e-mail given here): a client naming another
        # customer must not count as that customer coming back, nor record a visit for them.
        customer = consent.known_customer(tracker, latest)
        if not customer:
            return None
        channel = str(latest.get("input_channel") or "unknown")
        now = self._clock()
        try:
            contacts = self._contacts or resources.contact_history()
            minutes = contacts.minutes_since_other_channel(str(customer), tracker.sender_id, channel, now)
            contacts.record(str(customer), tracker.sender_id, channel, now)
        except Exception:
            logger.exception("contact history unavailable; scoring without the channel-return signal")
            return None
        return minutes if minutes is not None and minutes <= RETURN_WINDOW_MINUTES else None
