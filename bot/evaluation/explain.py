"""``attune explain``: why the bot read a message the way it did, for a bot designer.

Each message is parsed by the trained model's NLU (bot/components/nlu_reader.py), read into a
``ReadTurn`` exactly as ``action_track_empathy`` reads the parse data it receives, and scored
turn by turn with the shipped policy (bot/empathy/explain.py).  For the last message it shows
the intent ranking, the emotion probabilities, the cues, each signal's value x weight, the
carried-over part, the tone with the response variant the customer would read, and the
escalation decision with its reasons.  ``--json`` prints the same as one JSON object.
"""

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from actions.empathy_tracking import NOT_UNDERSTOOD
from actions.languages import unread_language
from bot.components.nlu_reader import NluReader, open_reader
from bot.constants import PARSE_EMOTION, PARSE_EMOTION_VECTOR, REQUEST_HUMAN
from bot.empathy import compact_vector
from bot.empathy.cues import Cues
from bot.empathy.escalation import HANDOFF, OFFER_CALLBACK, OFFER_HUMAN
from bot.empathy.explain import ReadTurn, TurnExplanation, explain_conversation
from bot.empathy.policy import EmpathyPolicy
from bot.evaluation.engine import ROOT, load_policy

# The response each escalation action sends first (actions/escalation.py); a handoff's depends on
# the queue, and the usual one is named.
ESCALATION_RESPONSES: Final = {
    HANDOFF: "utter_handoff_sent",
    OFFER_HUMAN: "utter_offer_human",
    OFFER_CALLBACK: "utter_offer_callback",
}


def read_turn(parse: Mapping[str, Any]) -> ReadTurn:
    """The parse data of one message, read as actions/empathy_tracking.py reads a user event."""
    emotion = parse.get(PARSE_EMOTION) or {}
    cues = emotion.get("cues") if isinstance(emotion, dict) else None
    intent = (parse.get("intent") or {}).get("name")
    return ReadTurn(
        text=str(parse.get("text") or ""),
        intent=intent,
        emotion=emotion.get("probabilities") or None if isinstance(emotion, dict) else None,
        cues=Cues(**cues) if isinstance(cues, dict) else None,
        embedding=compact_vector.unpack(emotion.get(PARSE_EMOTION_VECTOR))
        if isinstance(emotion, dict)
        else None,
        asks_for_human=intent == REQUEST_HUMAN,
        not_understood=intent in NOT_UNDERSTOOD,
        unread_language=unread_language({"parse_data": dict(parse)}),
    )


@dataclass(frozen=True)
class Replies:
    """What the designer wrote: the responses (domain.yml) and which action answers which intent."""

    responses: Mapping[str, Any]
    answers: Mapping[str, str]  # intent -> the action its simplest rule or story runs next

    @classmethod
    def load(cls, root: Path) -> "Replies":
        domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8")) or {}
        answers: dict[str, str] = {}
        for folder in ("rules", "stories"):
            for path in sorted((root / "data" / folder).glob("*.yml")):
                document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
                for block in [*(document.get("rules") or []), *(document.get("stories") or [])]:
                    _first_answer(block, answers)
        return cls(domain.get("responses") or {}, answers)

    def variant(self, response: str, tone: str) -> str | None:
        """The text of ``response`` Rasa picks in ``tone``: the tone's variant, else the plain one."""
        variants = [v for v in self.responses.get(response) or [] if isinstance(v, dict)]
        for variant in variants:
            conditions = variant.get("condition") or []
            if any(c.get("name") == "tone" and c.get("value") == tone for c in conditions):
                return str(variant.get("text"))
        plain = [v for v in variants if not v.get("condition")]
        return str(plain[0].get("text")) if plain else None


def _first_answer(block: Mapping[str, Any], answers: dict[str, str]) -> None:
    """Records the action right after a block's opening intent (rules with conditions excluded)."""
    steps = block.get("steps") or []
    if block.get("condition") or len(steps) < 2:
        return
    first, second = steps[0], steps[1]
    if isinstance(first, dict) and "intent" in first and isinstance(second, dict) and "action" in second:
        answers.setdefault(str(first["intent"]), str(second["action"]))


def reply_for(explanation: TurnExplanation, replies: Replies) -> dict[str, Any]:
    """The response the customer would read next, in the chosen tone, and where it comes from."""
    tone = explanation.tone.tone
    escalation = ESCALATION_RESPONSES.get(explanation.decision.kind)
    if escalation:
        return {
            "action": escalation,
            "tone": tone,
            "text": replies.variant(escalation, tone),
            "why": "escalation",
        }
    action = replies.answers.get(str(explanation.turn.intent))
    if action is None:
        return {"action": None, "tone": tone, "text": None, "why": "no simple rule or story for this intent"}
    if not action.startswith("utter_"):
        why = f"{action} sends its own responses; their {tone} variants are used"
        return {"action": action, "tone": tone, "text": None, "why": why}
    return {"action": action, "tone": tone, "text": replies.variant(action, tone), "why": "rule or story"}


def report(
    parses: Sequence[Mapping[str, Any]],
    explained: Sequence[TurnExplanation],
    replies: Replies,
    timings: Mapping[str, float],
) -> dict[str, Any]:
    """The whole explanation of the last message, as the JSON output; the text output reads it."""
    last, parse = explained[-1], parses[-1]
    emotion = parse.get(PARSE_EMOTION) if last.score is not None else None
    return {
        "message": last.turn.text,
        "turn": last.number,
        "opted_out": last.score is None,
        "intent_ranking": [
            {"intent": r.get("name"), "confidence": round(float(r.get("confidence") or 0.0), 4)}
            for r in (parse.get("intent_ranking") or [])[:5]
        ],
        "emotion": (emotion or {}).get("probabilities") if isinstance(emotion, dict) else None,
        "cues": {
            k: v for k, v in (last.turn.cues.__dict__ if last.turn.cues and last.score else {}).items() if v
        },
        **(last.score.to_dict() if last.score else {}),
        "tone": last.tone.to_dict(),
        "reply": reply_for(last, replies),
        "decision": last.decision.to_dict(),
        "trajectory": [
            {
                "turn": e.number,
                "text": e.turn.text[:80],
                "frustration": None if e.score is None else round(e.score.frustration.value, 3),
                "distress": None if e.score is None else round(e.score.distress.value, 3),
                "tone": e.tone.tone,
                "decision": e.decision.kind,
            }
            for e in explained
        ],
        "timings_ms": {k: round(v * 1000, 1) for k, v in timings.items()},
    }


def _score_lines(name: str, score: Mapping[str, Any]) -> list[str]:
    lines = [f"{name}: {score['score']:.3f} (threshold {score['threshold']})"]
    for signal, part in sorted(score["contributions"].items(), key=lambda kv: -abs(kv[1]["contribution"])):
        if part["value"] or part["contribution"]:
            lines.append(
                f"  {signal:<20} {part['value']:.3f} x {part['weight']:+.3f} = {part['contribution']:+.3f}"
            )
    lines.append(f"  {'this turn (clipped)':<20} {score['instant']:.3f}")
    lines.append(
        f"  {'carried over':<20} {score['carried']:.3f}   score = 1 - (1 - carried) x (1 - this turn)"
    )
    return lines


def render_text(explained: Mapping[str, Any]) -> str:
    """The report as a designer reads it in a terminal."""
    lines = [f"message (turn {explained['turn']}): {explained['message']!r}"]
    ranking = "  ".join(f"{r['intent']} {r['confidence']:.3f}" for r in explained["intent_ranking"])
    lines.append(f"intents: {ranking}")
    if explained["opted_out"]:
        lines.append("emotion: not read (the customer opted out of emotion analysis)")
    else:
        emotion = explained["emotion"] or {}
        top = sorted(emotion.items(), key=lambda kv: -kv[1])
        lines.append("emotion: " + ("  ".join(f"{k} {v:.3f}" for k, v in top) or "unavailable"))
        lines.append("cues: " + ("  ".join(f"{k} {v:g}" for k, v in explained["cues"].items()) or "none"))
        lines += _score_lines("frustration", explained["frustration"])
        lines += _score_lines("distress", explained["distress"])
        if explained["unavailable"]:
            lines.append("unavailable: " + ", ".join(explained["unavailable"]))
    tone = explained["tone"]
    lines.append(f"tone: {tone['tone']} ({tone['reason']})")
    reply = explained["reply"]
    lines.append(
        f"reply: {reply['action'] or '-'} [{reply['why']}]"
        + (f"\n  {reply['text']!r}" if reply["text"] else "")
    )
    decision = explained["decision"]
    reasons = "; ".join(decision["reasons"]) or "no rule reached"
    lines.append(f"escalation: {decision['decision']} ({decision['priority']}): {reasons}")
    if len(explained["trajectory"]) > 1:
        lines.append("trajectory:")
        for point in explained["trajectory"]:
            scores = (
                "opted out"
                if point["frustration"] is None
                else (f"frustration {point['frustration']:.3f} distress {point['distress']:.3f}")
            )
            lines.append(
                f"  {point['turn']}. {scores} {point['tone']} {point['decision']}  {point['text']!r}"
            )
    if explained["timings_ms"]:
        lines.append("timings: " + "  ".join(f"{k} {v:.1f} ms" for k, v in explained["timings_ms"].items()))
    return "\n".join(lines)


# Parses of the last message timed for the warm figure (its median is reported).
WARM_RUNS: Final = 20


def explain_messages(
    model: Path, messages: Sequence[str], opted_out: bool, started: float, timed: bool = False
) -> dict[str, Any]:
    """The report on the last of ``messages`` (the others came before it), read with ``model``.

    ``started`` is when the command started (``time.perf_counter()``): the cold time counts from it.
    A message the channels would refuse raises ``InvalidInput`` (a ValueError saying why).
    """
    policy, replies = load_policy(), Replies.load(ROOT)
    with open_reader(model) as reader:
        loaded = time.perf_counter()
        parses = [reader.parse(text) for text in messages]
        explained = explain_conversation([read_turn(p) for p in parses], policy, opted_out)
        timings = {
            "start to model loaded": loaded - started,
            "start to explained": time.perf_counter() - started,
        }
        if timed:
            timings["warm, per message (median)"] = warm_time(reader, messages, policy, opted_out)
    return report(parses, explained, replies, timings if timed else {})


def warm_time(reader: NluReader, messages: Sequence[str], policy: EmpathyPolicy, opted_out: bool) -> float:
    """The median time to parse and score the last message again, the model already loaded."""
    earlier = [read_turn(reader.parse(text)) for text in messages[:-1]]
    times = []
    for _ in range(WARM_RUNS):
        start = time.perf_counter()
        last = read_turn(reader.parse(messages[-1]))
        explain_conversation([*earlier, last], policy, opted_out)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]
