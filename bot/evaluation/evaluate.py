"""`attune eval dialogues|emotions FILE`: the shipped engine on external data, metrics per README.

Definitions (../shared/data/README.md): a USS user turn is dissatisfied when satisfaction <= 2;
a TWCS customer turn is positive when frustration >= 3 (Spearman against the 0-4 rating).  F1 is
taken at the threshold Attune ships (policy/empathy.yml: frustration.threshold), never tuned here.
"""

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bot.empathy import metrics
from bot.empathy.emotions import EKMAN, EMOTIONS, TO_EKMAN
from bot.evaluation.engine import EmpathyEngine, ScoredTurn, turns_of

# A second Ekman label is predicted when its probability reaches this (GoEmotions is multi-label).
EKMAN_SECOND_LABEL = 0.25


class EvalInputError(ValueError):
    """The input file is not in the expected format; the message names the line."""


def read_jsonl(path: Path, required: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as error:
        raise EvalInputError(f"{path}: cannot read ({error.strerror})") from error
    with handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise EvalInputError(f"{path}:{number}: not JSON ({error.msg})") from error
            missing = [key for key in required if key not in record]
            if missing:
                raise EvalInputError(f"{path}:{number}: missing field(s) {missing}")
            yield record


def label_of(turn: dict[str, Any]) -> tuple[bool, float] | None:
    """(positive, graded rating) of a rated user turn, or None when the turn is not rated."""
    if isinstance(turn.get("frustration"), (int, float)):
        return turn["frustration"] >= 3, float(turn["frustration"])
    if isinstance(turn.get("satisfaction"), (int, float)):
        return turn["satisfaction"] <= 2, float(-turn["satisfaction"])
    return None


# The most confident misses kept per kind: what a designer reads first in the report.
KEEP_MISSES = 5


def _top_contributions(item: ScoredTurn, keep: int = 4) -> list[dict[str, Any]]:
    """The signals that moved this turn's frustration most, with value x weight = contribution."""
    parts = item.score.frustration.contributions
    ranked = sorted(parts.items(), key=lambda kv: -abs(kv[1]["contribution"]))
    return [{"signal": name, **part} for name, part in ranked[:keep] if part["contribution"]]


def _miss(record_id: Any, item: ScoredTurn) -> dict[str, Any]:
    return {
        "id": record_id,
        "turn": item.index,
        "text": item.text[:200],
        "frustration": round(item.score.frustration.value, 3),
        "carried": round(item.score.frustration.carried, 3),
        "contributions": _top_contributions(item),
    }


def most_confident_misses(
    candidates: list[tuple[Any, ScoredTurn, bool]],
    offer_above: float,
    threshold: float,
    keep: int = KEEP_MISSES,
) -> dict[str, Any]:
    """False offers (a person offered to a calm turn, highest score first) and missed frustration
    (a frustrated turn under the threshold, lowest score first): (id, scored turn, positive) each.
    """
    false_offers = [
        (i, t) for i, t, positive in candidates if not positive and t.score.frustration.value >= offer_above
    ]
    missed = [(i, t) for i, t, positive in candidates if positive and t.score.frustration.value < threshold]
    false_offers.sort(key=lambda it: -it[1].score.frustration.value)
    missed.sort(key=lambda it: it[1].score.frustration.value)
    return {
        "false_offers": [_miss(i, t) for i, t in false_offers[:keep]],
        "missed_frustration": [_miss(i, t) for i, t in missed[:keep]],
        "counts": {"false_offers": len(false_offers), "missed_frustration": len(missed)},
    }


def evaluate_dialogues(path: Path, engine: EmpathyEngine, keep_examples: int = 4) -> dict[str, Any]:
    records = list(read_jsonl(path, ("turns",)))
    scores: list[float] = []
    positives: list[bool] = []
    frustration_ratings: list[float] = []
    frustration_scores: list[float] = []
    examples: list[dict[str, Any]] = []
    rated: list[tuple[Any, ScoredTurn, bool]] = []
    for record in tqdm(records, desc=f"scoring {path.name}", unit="dialogue", file=sys.stderr):
        if not isinstance(record["turns"], list):
            raise EvalInputError(f"{path}: dialogue {record.get('id')!r}: 'turns' must be a list")
        turns = record["turns"]
        scored = engine.score_dialogue(turns_of(record))
        trajectory = []
        for item in scored:
            label = label_of(turns[item.index])
            trajectory.append(_point(item, label))
            if label is None:
                continue
            scores.append(item.score.frustration.value)
            positives.append(label[0])
            rated.append((record.get("id"), item, label[0]))
            if isinstance(turns[item.index].get("frustration"), (int, float)):
                frustration_ratings.append(label[1])
                frustration_scores.append(item.score.frustration.value)
        if len(examples) < keep_examples and any(p["positive"] for p in trajectory) and len(trajectory) >= 3:
            examples.append({"id": record.get("id"), "turns": trajectory})
    threshold = engine.policy.frustration_threshold
    precision, recall, f1 = metrics.precision_recall_f1([s >= threshold for s in scores], positives)
    result: dict[str, Any] = {
        "file": str(path),
        "n_dialogues": len(records),
        "n_turns": len(scores),
        "positives": int(sum(positives)),
        "auc": metrics.roc_auc(scores, positives),
        "f1": f1,
        "precision": precision,
        "recall": recall,
        "threshold": threshold,
    }
    if frustration_ratings:
        result["spearman"] = metrics.spearman(frustration_scores, frustration_ratings)
    result["misses"] = most_confident_misses(rated, engine.policy.escalation.offer_human_above, threshold)
    result["_roc"] = metrics.roc_curve(scores, positives)
    result["_examples"] = examples
    return result


def _point(item: ScoredTurn, label: tuple[bool, float] | None) -> dict[str, Any]:
    return {
        "text": item.text[:160],
        "frustration": round(item.score.frustration.value, 3),
        "distress": round(item.score.distress.value, 3),
        "positive": bool(label and label[0]),
        "rated": label is not None,
    }


def evaluate_emotions(path: Path, engine: EmpathyEngine) -> dict[str, Any]:
    records = list(read_jsonl(path, ("text", "labels_ekman")))
    texts = [str(r["text"]) for r in records]
    predicted: list[set[str]] = []
    tops: list[str] = []
    batch = 256
    for start in tqdm(
        range(0, len(texts), batch), desc=f"reading {path.name}", unit="batch", file=sys.stderr
    ):
        _, readings = engine.read_emotions(texts[start : start + batch])
        for reading in readings:
            ekman = dict.fromkeys(EKMAN, 0.0)
            for emotion in EMOTIONS:
                ekman[TO_EKMAN[emotion]] += reading.probabilities[emotion]
            best = max(ekman, key=lambda k: ekman[k])
            tops.append(best)
            predicted.append({best} | {k for k, v in ekman.items() if v >= EKMAN_SECOND_LABEL})
    gold = [set(r["labels_ekman"]) for r in records]
    macro, per_class = metrics.multilabel_macro_f1(predicted, gold, EKMAN)
    return {
        "file": str(path),
        "n": len(records),
        "macro_f1_ekman": macro,
        "per_class": per_class,
        "confusion": confusion_matrix(gold, tops, EKMAN),
    }


def confusion_matrix(gold: list[set[str]], predicted: list[str], labels: tuple[str, ...]) -> dict[str, Any]:
    """Counts of (gold, predicted top) over the texts with exactly one gold label among ``labels``.

    A multi-label text has no single right answer to confuse, so it is left out (``left_out``).
    """
    index = {label: n for n, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    left_out = 0
    for wanted, top in zip(gold, predicted, strict=True):
        if len(wanted) != 1 or next(iter(wanted)) not in index or top not in index:
            left_out += 1
            continue
        matrix[index[next(iter(wanted))]][index[top]] += 1
    return {"labels": list(labels), "matrix": matrix, "left_out": left_out}
