"""Shadow mode's pure part: a candidate empathy policy scored beside the live one, and the report.

Issue 22 item 3, docs/shadow.md.  ``action_track_empathy`` makes the live decision first; then, on
the same inputs (the same signals, read from the same emotion reading), ``shadow_turn`` scores the
turn with the candidate policy and picks the candidate's tone and decision.  Nothing of it reaches
the conversation: the action returns the same events with shadow mode on or off.

The candidate carries its own scores, tone and offer history from turn to turn (``CandidateCarry``,
kept by the action server in memory, never in the tracker).  When its carry for the previous turn is
not at hand (a new process, another action server took that turn), it starts from the live engine's:
the record says so (``continued`` false).

``report`` is the arithmetic of ``attune shadow report``: decision agreement with the confusion of
live against candidate decisions, Pearson and Spearman correlation of the scores, and the offers the
candidate would have made differently, with examples.  Stdlib + numpy only.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from bot.empathy.escalation import (
    DECISIONS,
    HANDOFF,
    OFFER_CALLBACK,
    OFFER_HUMAN,
    EscalationHistory,
    decide,
)
from bot.empathy.policy import EmpathyPolicy
from bot.empathy.scoring import TurnScore, score_turn
from bot.empathy.signals import TurnSignals
from bot.empathy.tone import NEUTRAL, TONES, choose_tone

OFFERS: Final = (OFFER_HUMAN, OFFER_CALLBACK, HANDOFF)
# Signals kept with each record: the strongest by contribution under either policy.
TOP_SIGNALS: Final = 3
MAX_NAME_CHARS: Final = 64
MAX_EXAMPLES: Final = 100
DEFAULT_CANDIDATE_FILE: Final = "policy/empathy.candidate.yml"


class ShadowError(ValueError):
    """The shadow settings file is invalid; the message names the key."""


@dataclass(frozen=True)
class ShadowSettings:
    """``policy/shadow.yml``: whether shadow mode runs, and which candidate policy."""

    enabled: bool = False
    # Stored with every record, so a report reads one candidate's records only.
    name: str = "candidate"
    candidate_policy: str = DEFAULT_CANDIDATE_FILE


def parse_settings(document: Any, source: str = "policy/shadow.yml") -> ShadowSettings:
    """The settings in a parsed YAML document; an empty document is shadow mode off."""
    if document is None:
        return ShadowSettings()
    if not isinstance(document, Mapping):
        raise ShadowError(f"{source}: expected a mapping at the top level")
    unknown = set(document) - {"enabled", "name", "candidate_policy"}
    if unknown:
        raise ShadowError(
            f"{source}: unknown key(s) {sorted(unknown)}; allowed: enabled, name, candidate_policy"
        )
    enabled = document.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ShadowError(f"{source}: 'enabled' must be true or false, got {enabled!r}")
    name = document.get("name", ShadowSettings.name)
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS or not _plain(name):
        raise ShadowError(
            f"{source}: 'name' must be 1-{MAX_NAME_CHARS} letters, digits, '.', '_' or '-', got {name!r}"
        )
    candidate = document.get("candidate_policy", ShadowSettings.candidate_policy)
    if not isinstance(candidate, str) or not candidate.strip():
        raise ShadowError(f"{source}: 'candidate_policy' must name a policy file, got {candidate!r}")
    return ShadowSettings(enabled, name, candidate.strip())


def _plain(name: str) -> bool:
    return all(c.isascii() and (c.isalnum() or c in "._-") for c in name)


@dataclass(frozen=True)
class CandidateCarry:
    """What the candidate carries from its own previous turn."""

    turn: int
    frustration: float
    distress: float
    tone: str
    tone_turns: int
    history: EscalationHistory


@dataclass(frozen=True)
class LiveTurn:
    """One scored turn as the live engine saw it: its inputs and what it decided."""

    turn: int
    signals: TurnSignals
    explicit: bool
    failures: int
    misunderstood: int
    # What the live engine carried in from the previous turn.
    carried_frustration: float
    carried_distress: float
    previous_tone: str | None
    tone_turns: int
    history: EscalationHistory
    # What it decided.
    score: TurnScore
    tone: str
    decision: str


@dataclass(frozen=True)
class ShadowRecord:
    """One turn, live against candidate: scores, decisions, tones and the top signals; no text."""

    conversation_id: str
    turn: int
    candidate: str
    live_frustration: float
    candidate_frustration: float
    live_distress: float
    candidate_distress: float
    live_decision: str
    candidate_decision: str
    live_tone: str
    candidate_tone: str
    signals: dict[str, float] = field(default_factory=dict)
    continued: bool = False
    recorded_at: float = 0.0


def shadow_turn(
    live: LiveTurn,
    candidate: EmpathyPolicy,
    carry: CandidateCarry | None,
    conversation_id: str,
    name: str,
    now: float,
) -> tuple[ShadowRecord, CandidateCarry]:
    """The candidate's reading of ``live``'s turn, and what it carries to the next one."""
    continued = carry is not None and carry.turn == live.turn - 1
    if carry is not None and continued:
        frustration, distress = carry.frustration, carry.distress
        tone, tone_turns, history = carry.tone, carry.tone_turns, carry.history
    else:
        frustration, distress = live.carried_frustration, live.carried_distress
        tone, tone_turns, history = live.previous_tone or NEUTRAL, live.tone_turns, live.history
    score = score_turn(live.signals, frustration, distress, candidate)
    chosen = choose_tone(score.frustration.value, score.distress.value, tone, tone_turns, candidate.tone)
    decision = decide(
        live.turn, score, live.explicit, live.failures, history, candidate.escalation, live.misunderstood
    )
    record = ShadowRecord(
        conversation_id=conversation_id,
        turn=live.turn,
        candidate=name,
        live_frustration=round(live.score.frustration.value, 4),
        candidate_frustration=round(score.frustration.value, 4),
        live_distress=round(live.score.distress.value, 4),
        candidate_distress=round(score.distress.value, 4),
        live_decision=live.decision,
        candidate_decision=decision.kind,
        live_tone=live.tone,
        candidate_tone=chosen.tone,
        signals=top_signals(live.score, score),
        continued=continued,
        recorded_at=now,
    )
    after = CandidateCarry(
        live.turn,
        score.frustration.value,
        score.distress.value,
        chosen.tone,
        chosen.turns_held,
        history.after(decision),
    )
    return record, after


def top_signals(live: TurnScore, candidate: TurnScore, keep: int = TOP_SIGNALS) -> dict[str, float]:
    """The signals that moved either score most, with their values (the same under both policies)."""
    strength: dict[str, float] = {}
    values: dict[str, float] = {}
    for score in (live.frustration, live.distress, candidate.frustration, candidate.distress):
        for name, part in score.contributions.items():
            if part["value"]:
                values[name] = part["value"]
                strength[name] = max(strength.get(name, 0.0), abs(part["contribution"]))
    ranked = sorted((s, n) for n, s in strength.items() if s > 0)
    return {name: values[name] for _s, name in sorted(ranked, key=lambda p: (-p[0], p[1]))[:keep]}


# --- the report -------------------------------------------------------------------------------


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r; None with fewer than two pairs or a constant side."""
    if len(x) != len(y) or len(x) < 2:
        return None
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    if norm == 0.0:
        return None
    return float((a * b).sum() / norm)


def ranks(values: Sequence[float]) -> npt.NDArray[np.float64]:
    """Ranks from 1, ties sharing their average rank (as Spearman's rho needs)."""
    data = np.asarray(values, dtype=float)
    order = np.argsort(data, kind="mergesort")
    ranked = np.empty(len(data), dtype=float)
    sorted_data = data[order]
    start = 0
    while start < len(data):
        end = start
        while end + 1 < len(data) and sorted_data[end + 1] == sorted_data[start]:
            end += 1
        ranked[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranked


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson's r of the ranks."""
    if len(x) != len(y) or len(x) < 2:
        return None
    return pearson(list(ranks(x)), list(ranks(y)))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _scores(live: list[float], candidate: list[float]) -> dict[str, Any]:
    n = len(live)
    return {
        "pearson": _rounded(pearson(live, candidate)),
        "spearman": _rounded(spearman(live, candidate)),
        "mean_live": _rounded(sum(live) / n) if n else None,
        "mean_candidate": _rounded(sum(candidate) / n) if n else None,
        "mean_abs_difference": _rounded(sum(abs(a - b) for a, b in zip(live, candidate, strict=True)) / n)
        if n
        else None,
    }


def _example(record: ShadowRecord) -> dict[str, Any]:
    return {
        "conversation_id": record.conversation_id,
        "turn": record.turn,
        "live_decision": record.live_decision,
        "candidate_decision": record.candidate_decision,
        "frustration": {"live": record.live_frustration, "candidate": record.candidate_frustration},
        "distress": {"live": record.live_distress, "candidate": record.candidate_distress},
        "signals": dict(record.signals),
    }


def _offers_changed(records: Sequence[ShadowRecord], examples: int) -> dict[str, Any]:
    """Per offer: the turns only the candidate makes it (``added``) and only the live engine (``removed``)."""
    changed: dict[str, Any] = {}
    for offer in OFFERS:
        added = [r for r in records if r.candidate_decision == offer and r.live_decision != offer]
        removed = [r for r in records if r.live_decision == offer and r.candidate_decision != offer]
        changed[offer] = {
            "live": sum(r.live_decision == offer for r in records),
            "candidate": sum(r.candidate_decision == offer for r in records),
            "added": len(added),
            "removed": len(removed),
            "examples": {
                "added": [_example(r) for r in added[:examples]],
                "removed": [_example(r) for r in removed[:examples]],
            },
        }
    return changed


def report(records: Sequence[ShadowRecord], examples: int = 5) -> dict[str, Any]:
    """Live against candidate over ``records`` (oldest first); ``examples`` per offer and direction."""
    if not 0 <= examples <= MAX_EXAMPLES:
        raise ValueError(f"examples must be between 0 and {MAX_EXAMPLES}, got {examples}")
    n = len(records)
    confusion = {live: {cand: 0 for cand in DECISIONS} for live in DECISIONS}
    for record in records:
        row = confusion.setdefault(record.live_decision, {cand: 0 for cand in DECISIONS})
        row[record.candidate_decision] = row.get(record.candidate_decision, 0) + 1
    agreed = sum(r.live_decision == r.candidate_decision for r in records)
    tones = {live: {cand: 0 for cand in TONES} for live in TONES}
    for record in records:
        tone_row = tones.setdefault(record.live_tone, {cand: 0 for cand in TONES})
        tone_row[record.candidate_tone] = tone_row.get(record.candidate_tone, 0) + 1
    return {
        "records": n,
        "conversations": len({r.conversation_id for r in records}),
        "candidates": sorted({r.candidate for r in records}),
        "continued": _rounded(sum(r.continued for r in records) / n) if n else None,
        "decision_agreement": _rounded(agreed / n) if n else None,
        "decisions_differ": n - agreed,
        "confusion": confusion,
        "tone_agreement": _rounded(sum(r.live_tone == r.candidate_tone for r in records) / n) if n else None,
        "tones": tones,
        "frustration": _scores(
            [r.live_frustration for r in records], [r.candidate_frustration for r in records]
        ),
        "distress": _scores([r.live_distress for r in records], [r.candidate_distress for r in records]),
        "offers_changed": _offers_changed(records, examples),
    }
