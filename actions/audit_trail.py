"""Turns one turn's decisions by the empathy engine into audit entries
(handoff/audit/audit_log.py stores them).

``action_track_empathy`` sets the tone and the escalation decision each turn, with the
explanation in the ``empathy_explanation`` slot.  From the slots it returns, this records:

- a ``tone_change`` when the tone actually changed (not every turn);
- an ``offer_human`` / ``offer_callback`` / ``handoff`` when that was the decision;

each with a one-line summary, the explanation (thresholds, reasons, the rule), the inputs (scores
and their signals, failed attempts, intent) and the data sources.  A customer who opted out of
emotion analysis gets the decision and its non-emotional inputs only: no score, signal or emotion.

Entries go to a durable queue on disk first (actions/audit_queue.py) and are sent in the
background, so the customer's reply never waits for the handoff service.
"""

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Tracker

from actions import resources
from actions.consent import latest_user_event
from actions.handoff_payload import customer_pseudonym
from bot.constants import (
    REQUEST_HUMAN,
    SLOT_EMPATHY_EXPLANATION,
    SLOT_EMPATHY_STATE,
    SLOT_FAILED_ATTEMPTS,
    SLOT_TONE,
)
from bot.empathy.escalation import HANDOFF, OFFER_CALLBACK, OFFER_HUMAN
from bot.empathy.tone import NEUTRAL
from handoff.shared.audit_entry import ENGINE_ACTOR, NewEntry

logger = logging.getLogger(__name__)

DECISIONS = (OFFER_HUMAN, OFFER_CALLBACK, HANDOFF)
SUMMARIES = {
    OFFER_HUMAN: "Offered a person",
    OFFER_CALLBACK: "Offered a phone call-back",
    HANDOFF: "Handed off to a person",
}
RULES = {
    HANDOFF: "the customer asked for a person: hand off (high priority when distressed)",
    OFFER_CALLBACK: (
        "distress over its threshold: offer a phone call-back, urgent (not again within the cooldown)"
    ),
    OFFER_HUMAN: (
        "frustration over its threshold, or repeated failed self-service: offer a person "
        "(not again within the cooldown)"
    ),
}
# With emotion analysis off only facts count (bot/empathy/escalation.py): no distress, no frustration.
OPTED_OUT_RULES = {
    HANDOFF: "the customer asked for a person: hand off",
    OFFER_HUMAN: "repeated failed self-service: offer a person (not again within the cooldown)",
}
TONE_RULE = (
    "a higher tone as soon as frustration reaches its threshold (distress alone asks for warmth); "
    "a lower one only after the score fell past the hysteresis band and the tone was held its minimum turns"
)
OPTED_OUT_SOURCES = ("intent", "self-service outcomes")


def _key(tracker: Tracker, scored: object, turn: int, kind: str) -> str:
    source = f"{tracker.sender_id}|{scored}|{turn}|{kind}"
    return "engine-" + hashlib.sha256(source.encode()).hexdigest()[:40]


def _scores(explanation: dict[str, Any]) -> dict[str, Any]:
    """The scores with the signals behind them (only for customers who did not opt out)."""
    return {
        "frustration": explanation.get("frustration"),
        "distress": explanation.get("distress"),
        "unavailable": explanation.get("unavailable", []),
    }


@dataclass(frozen=True)
class _Turn:
    """One scored turn, as every audit entry about it records it."""

    tracker: Tracker
    explanation: dict[str, Any]
    scored: object
    base: dict[str, Any]
    facts: dict[str, Any]
    sources: list[str]

    @property
    def opted_out(self) -> bool:
        return bool(self.explanation.get("opted_out"))

    @property
    def number(self) -> int:
        return int(self.explanation.get("turn") or 0)

    def entry(self, kind: str, summary: str, why: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        """One entry in the audit API's shape, built by the shared contract (shared/audit_entry.py)."""
        return NewEntry(
            key=_key(self.tracker, self.scored, self.number, kind),
            kind=kind,
            summary=summary,
            explanation=why,
            inputs=inputs,
            sources=tuple(self.sources),
            **self.base,
        ).to_document()


def entries_for_turn(
    tracker: Tracker, events: list[dict[str, Any]], now: datetime | None = None
) -> list[dict[str, Any]]:
    """The audit entries for the slots ``action_track_empathy`` returned this turn (often none)."""
    slots = {e.get("name"): e.get("value") for e in events if e.get("event") == "slot"}
    explanation = slots.get(SLOT_EMPATHY_EXPLANATION)
    if not isinstance(explanation, dict):
        return []
    turn = _read_turn(tracker, slots, explanation, now)
    entries = (_tone_change_entry(turn, slots.get(SLOT_TONE)), _decision_entry(turn))
    return [entry for entry in entries if entry is not None]


def _read_turn(
    tracker: Tracker, slots: dict[Any, Any], explanation: dict[str, Any], now: datetime | None
) -> _Turn:
    """What every entry about this turn shares: who, when, the non-emotional facts and the sources."""
    opted_out = bool(explanation.get("opted_out"))
    state = slots.get(SLOT_EMPATHY_STATE) or {}
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    base = {
        "conversation_id": tracker.sender_id,
        # The same customer the handoff payload names (actions/handoff_payload.py).
        "customer": customer_pseudonym(tracker, latest_user_event(tracker)),
        "actor": ENGINE_ACTOR,
        "opted_out": opted_out,
        "created_at": now or datetime.now(timezone.utc),
    }
    facts = {
        "turn": int(explanation.get("turn") or 0),
        "intent": intent,
        "explicit_request": intent == REQUEST_HUMAN,
        "failed_attempts": int(tracker.get_slot(SLOT_FAILED_ATTEMPTS) or 0),
        "emotion_processing": "off" if opted_out else "on",
    }
    sources = list(OPTED_OUT_SOURCES) if opted_out else [str(s) for s in explanation.get("sources", [])]
    return _Turn(
        tracker=tracker,
        explanation=explanation,
        scored=state.get("scored") if isinstance(state, dict) else None,
        base=base,
        facts=facts,
        sources=sources,
    )


def _tone_change_entry(turn: _Turn, after: object) -> dict[str, Any] | None:
    """A ``tone_change`` entry when this turn's tone differs from the last one."""
    before = turn.tracker.get_slot(SLOT_TONE) or NEUTRAL
    if not isinstance(after, str) or after == before:
        return None
    if turn.opted_out:
        return turn.entry(
            "tone_change",
            f"Tone set to {after}: the customer opted out of emotion analysis",
            {"rule": "emotion analysis off: the tone stays neutral"},
            turn.facts,
        )
    tone = turn.explanation.get("tone") or {}
    return turn.entry(
        "tone_change",
        f"Tone changed from {before} to {after}: {tone.get('reason', '')}".rstrip(": "),
        {"rule": TONE_RULE, "tone": tone, "policy_version": turn.explanation.get("policy_version")},
        {**turn.facts, "previous_tone": before, **_scores(turn.explanation)},
    )


def _decision_entry(turn: _Turn) -> dict[str, Any] | None:
    """An entry for an offer or a handoff, when that was this turn's decision."""
    decision = turn.explanation.get("decision") or {}
    kind = decision.get("decision")
    if kind not in DECISIONS:
        return None
    reasons = [str(r) for r in decision.get("reasons", [])]
    summary = f"{SUMMARIES[kind]} ({decision.get('priority', 'normal')} priority): " + (
        "; ".join(reasons) or "no reason recorded"
    )
    why = {
        "rule": (OPTED_OUT_RULES if turn.opted_out else RULES).get(kind, RULES[kind]),
        "decision": decision,
    }
    if turn.opted_out:
        why["emotion_processing"] = "off: only explicit requests and failed self-service count"
        return turn.entry(str(kind), summary, why, turn.facts)
    why["policy_version"] = turn.explanation.get("policy_version")
    return turn.entry(str(kind), summary, why, {**turn.facts, **_scores(turn.explanation)})


async def record_turn(tracker: Tracker, events: list[dict[str, Any]]) -> None:
    """Queues this turn's entries on disk and wakes the background sender; never raises."""
    try:
        entries = entries_for_turn(tracker, events)
        if entries:
            await asyncio.to_thread(resources.audit_queue().put_all, entries)
        resources.resume_audit_flusher()  # once per process: sends what a previous run left behind
        if entries:
            resources.audit_flusher().ensure_running()
    except Exception:
        logger.exception("audit entries for conversation %s could not be queued", tracker.sender_id)
