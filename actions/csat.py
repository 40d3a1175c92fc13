"""CSAT without fatigue: one question (a score from 1 to 5, then an optional comment) when a
conversation is resolved, and silence whenever asking would be a burden.

When: the customer says there is nothing else (intent ``nothing_else``, "no thanks, that's all"),
or answers "no" to an "anything else?": the bot's after a thank-you, or the handback's after a
person resolved the handoff (handoff/core/rasa_client.py), where "bye" counts too.  That starts
``csat_form`` (data/rules/rules.yml); ``validate_csat_form`` decides at the form's start whether to
ask at all, and a suppressed form ends at once.  Silence counts too: when an "anything else?" went
unanswered for policy/csat.yml ``idle_minutes``, the handoff service triggers the intent
``EXTERNAL_csat_idle`` (handoff/analytics/idle_csat.py), which starts the same form with the same
checks; a question it does not ask ends without a word (no goodbye to a customer who may have gone).

Not asked (the plain goodbye instead), checked in this order:

- ``disabled``: policy/csat.yml says so;
- ``waiting``: a handoff is sent and no person has resolved it (``handoff_status`` delivered/queued);
- ``distress``: a turn of this conversation scored distress above the empathy policy's threshold
  (policy/empathy.yml ``distress.threshold``; only turns scored with the customer's consent carry it);
- ``recently_asked``: the customer was asked within ``suppression_days`` on any channel
  (actions/csat_ledger.py; asking records it, atomically, so two conversations cannot both ask).

An answer that is not a score (0, 6, "great") is refused politely and the question asked once
more; a second one, or "skip", ends the question without a score.  ``action_record_csat`` then sets
``csat_answer`` ({"score", "comment"}: what analytics ingests from the event broker), queues the
answer for the handoff service (actions/csat_queue.py), thanks the customer and clears the form.
"""

import hashlib
import logging
import re
import time
import unicodedata
from collections.abc import Callable
from typing import Any, Final, Literal

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import resources, turn_record
from actions.base import EventList, SafeAction
from actions.consent import gate_answer, latest_user_event
from actions.csat_ledger import CsatLedger, customer_key
from actions.csat_policy import CsatPolicy
from actions.csat_queue import CsatQueue
from actions.handoff_delivery import DELIVERED, QUEUED
from bot.constants import (
    CSAT_IDLE,
    FORM_CSAT,
    SLOT_CSAT_ANSWER,
    SLOT_CSAT_COMMENT,
    SLOT_CSAT_SCORE,
    SLOT_CSAT_STATUS,
    SLOT_DISTRESS,
    SLOT_HANDOFF_STATUS,
    SLOT_REQUESTED,
)
from bot.empathy.policy import EmpathyPolicy

logger = logging.getLogger(__name__)

# Where the question stands: asked (once more after a bad score), declined, or not asked and why.
CsatStatus = Literal["asked", "asked_again", "declined", "disabled", "waiting", "distress", "recently_asked"]
ASKED: Final[CsatStatus] = "asked"
ASKED_AGAIN: Final[CsatStatus] = "asked_again"
DECLINED: Final[CsatStatus] = "declined"
DISABLED: Final[CsatStatus] = "disabled"
WAITING: Final[CsatStatus] = "waiting"
DISTRESS: Final[CsatStatus] = "distress"
RECENTLY_ASKED: Final[CsatStatus] = "recently_asked"
ASKING: Final = frozenset({ASKED, ASKED_AGAIN})

MIN_SCORE: Final = 1
MAX_SCORE: Final = 5
MAX_COMMENT_CHARS: Final = 1000
WORDS: Final = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
# "4", "4/5", "4 out of 5", "4 stars", "four": the score alone, nothing else in the message.
SCORE: Final = re.compile(r"(?P<score>[0-9]+|[a-z]+)\s*(?:/\s*5|out of (?:5|five)|stars?)?[.!]?")
# Ways of saying "no score" or "no comment"; a button's payload ("/deny") counts too.
SKIP: Final = frozenset(
    {
        "skip",
        "no",
        "nope",
        "no thanks",
        "no thank you",
        "none",
        "nothing",
        "no comment",
        "n/a",
        "pass",
        "/deny",
    }
)

Clock = Callable[[], float]
# Rasa's mark on a user event it made for a triggered intent (rasa.shared.core.constants.IS_EXTERNAL).
IS_EXTERNAL: Final = "is_external"


def parse_score(text: object) -> int | None:
    """The score 1-5 in a reply, or None for anything else (0, 6, 4.5, "great", "4 but slow")."""
    if not isinstance(text, str):
        return None
    match = SCORE.fullmatch(text.strip().lower())
    if match is None:
        return None
    token = match["score"]
    value = WORDS.get(token) if token.isalpha() else int(token) if len(token) <= 2 else None
    return value if value is not None and MIN_SCORE <= value <= MAX_SCORE else None


def is_skip(text: object) -> bool:
    return isinstance(text, str) and text.strip().lower().rstrip(".!") in SKIP


def clean_comment(text: object) -> str:
    """The comment as stored: control characters out, whitespace collapsed, at most MAX_COMMENT_CHARS."""
    if not isinstance(text, str) or is_skip(text):
        return ""
    kept = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in text)
    return " ".join(kept.split())[:MAX_COMMENT_CHARS]


def peak_distress(tracker: Tracker) -> float:
    """The highest distress any turn of the visible conversation scored (0 when none was scored)."""
    scores = [float(r["distress"]) for r in turn_record.records(tracker) if _number(r.get("distress"))]
    scores += [
        float(e["value"])
        for e in tracker.events
        if e.get("event") == "slot" and e.get("name") == SLOT_DISTRESS and _number(e.get("value"))
    ]
    return max(scores, default=0.0)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def quiet_reason(tracker: Tracker, policy: CsatPolicy, empathy: EmpathyPolicy) -> CsatStatus | None:
    """Why the question must not be asked in this conversation, before the ledger is consulted."""
    if not policy.enabled:
        return DISABLED
    if tracker.get_slot(SLOT_HANDOFF_STATUS) in (DELIVERED, QUEUED):
        return WAITING
    if peak_distress(tracker) > empathy.distress_threshold:
        return DISTRESS
    return None


def latest_customer_event(tracker: Tracker) -> dict[str, Any]:
    """The latest message the customer sent: not an intent triggered through Rasa's API (the idle
    trigger's carries no metadata of the channel's, so no verified customer).
    """
    return next(
        (
            e
            for e in reversed(tracker.events)
            if e.get("event") == "user" and not (e.get("metadata") or {}).get(IS_EXTERNAL)
        ),
        {},
    )


def idle_triggered(tracker: Tracker) -> bool:
    """The form was started by the idle trigger, not by something the customer said."""
    intent = (latest_user_event(tracker).get("parse_data") or {}).get("intent") or {}
    return bool(intent.get("name") == CSAT_IDLE)


def ledger_key(tracker: Tracker) -> str:
    """Whom "asked recently" is counted for: the verified customer, else this conversation."""
    answer = gate_answer(latest_customer_event(tracker))
    return customer_key(answer.customer or answer.verified_id, tracker.sender_id)


def _end(status: CsatStatus) -> EventList:
    """Ends the form now (``requested_slot`` None), remembering why."""
    return [SlotSet(SLOT_CSAT_STATUS, status), SlotSet(SLOT_REQUESTED, None)]


class ValidateCsatForm(SafeAction):
    """Decides at the form's start whether to ask, then checks each answer."""

    def __init__(
        self,
        policy: Callable[[], CsatPolicy] = resources.csat_policy,
        empathy: Callable[[], EmpathyPolicy] = resources.empathy_policy,
        ledger: Callable[[], CsatLedger] = resources.csat_ledger,
        clock: Clock = time.time,
    ) -> None:
        self._policy = policy
        self._empathy = empathy
        self._ledger = ledger
        self._clock = clock

    def name(self) -> str:
        return f"validate_{FORM_CSAT}"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        if tracker.active_loop.get("name") != FORM_CSAT:
            return self.start(tracker)
        requested = tracker.get_slot(SLOT_REQUESTED)
        if requested == SLOT_CSAT_SCORE:
            return self.check_score(dispatcher, tracker)
        if requested == SLOT_CSAT_COMMENT:
            return [SlotSet(SLOT_CSAT_COMMENT, clean_comment(tracker.get_slot(SLOT_CSAT_COMMENT)))]
        return []

    def start(self, tracker: Tracker) -> EventList:
        policy = self._policy()
        reason = quiet_reason(tracker, policy, self._empathy())
        if reason is None and not self._ledger().claim(
            ledger_key(tracker), self._clock(), policy.suppression_seconds
        ):
            reason = RECENTLY_ASKED
        if reason is not None:
            logger.info("CSAT not asked in conversation %s: %s", tracker.sender_id, reason)
            return _end(reason)
        # Leftovers of an earlier question (slots carry over to a new session) must not answer this one.
        return [
            SlotSet(SLOT_CSAT_STATUS, ASKED),
            SlotSet(SLOT_CSAT_SCORE, None),
            SlotSet(SLOT_CSAT_COMMENT, None),
        ]

    def check_score(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> EventList:
        text = tracker.get_slot(SLOT_CSAT_SCORE)
        if is_skip(text):
            return [SlotSet(SLOT_CSAT_SCORE, None), *_end(DECLINED)]
        score = parse_score(text)
        if score is not None:
            return [SlotSet(SLOT_CSAT_SCORE, str(score))]
        if tracker.get_slot(SLOT_CSAT_STATUS) == ASKED:
            dispatcher.utter_message(response="utter_csat_bad_score")
            return [SlotSet(SLOT_CSAT_SCORE, None), SlotSet(SLOT_CSAT_STATUS, ASKED_AGAIN)]
        # The second answer that is not a score: the customer is not answering, and that is fine.
        return [SlotSet(SLOT_CSAT_SCORE, None), *_end(DECLINED)]

    def failed(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> EventList:
        # A survey is never worth an apology: the form ends quietly and the goodbye follows.
        return [SlotSet(SLOT_CSAT_SCORE, None), *_end(DECLINED)]


def answer_id(tracker: Tracker) -> str:
    """The answer's idempotency key: the conversation and the message that completed it, so a
    retried action queues the same answer once.
    """
    latest = latest_user_event(tracker)
    marker = latest.get("message_id") or latest.get("timestamp") or ""
    return hashlib.sha256(f"{tracker.sender_id}\x00{marker}".encode()).hexdigest()[:32]


def _reset() -> EventList:
    return [
        SlotSet(SLOT_CSAT_SCORE, None),
        SlotSet(SLOT_CSAT_COMMENT, None),
        SlotSet(SLOT_CSAT_STATUS, None),
    ]


class ActionRecordCsat(SafeAction):
    """After the form: the answer into ``csat_answer`` and the queue, thanks (or the goodbye), and
    a clean slate.
    """

    def __init__(
        self, queue: Callable[[], CsatQueue] = resources.csat_queue, clock: Clock = time.time
    ) -> None:
        self._queue = queue
        self._clock = clock

    def name(self) -> str:
        return "action_record_csat"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> EventList:
        score = parse_score(tracker.get_slot(SLOT_CSAT_SCORE))
        if tracker.get_slot(SLOT_CSAT_STATUS) not in ASKING or score is None:
            if not idle_triggered(tracker):  # the customer said goodbye; silence did not
                dispatcher.utter_message(response="utter_goodbye")
            return _reset()
        comment = clean_comment(tracker.get_slot(SLOT_CSAT_COMMENT)) or None
        answer = {"score": score, "comment": comment}
        self._enqueue(tracker, answer)
        dispatcher.utter_message(response="utter_csat_thanks")
        return [SlotSet(SLOT_CSAT_ANSWER, answer), *_reset()]

    def _enqueue(self, tracker: Tracker, answer: dict[str, Any]) -> None:
        """Queues the answer for the handoff service; a queue that fails loses only the service's copy
        (the slot still reaches analytics), so the customer is thanked either way.
        """
        try:
            self._queue().put(
                {"answer_id": answer_id(tracker), "conversation_id": tracker.sender_id, **answer},
                self._clock(),
            )
        except Exception:
            logger.exception(
                "CSAT answer of conversation %s not queued for the handoff service", tracker.sender_id
            )

    def failed(self, dispatcher: CollectingDispatcher, tracker: Tracker) -> EventList:
        dispatcher.utter_message(response="utter_goodbye")
        return _reset()
