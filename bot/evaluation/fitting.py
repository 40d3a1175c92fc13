"""`attune fit frustration`: learn the frustration weights from data/frustration/ and write them back.

The shipped engine computes every signal of every labelled customer turn in ``data/frustration/*.yml``
(the project's own data); ``bot.empathy.fitting`` fits a sign-constrained logistic regression on them.
A handful of settings (L2 strength x carry-over) may be compared on the dev files of ../shared/data,
which only *choose* between fits (their AUC), never fit a coefficient.  The chosen weights, carry-over
and threshold are written into policy/empathy.yml by changing the numbers only, so its comments stay.
"""

import difflib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bot.empathy import metrics
from bot.empathy.fitting import (
    TARGET,
    Fit,
    FrustrationDataError,
    LabelledTurn,
    fit_logistic,
    informative,
    parse_frustration_data,
    set_number,
)
from bot.empathy.policy import FRUSTRATION_SIGNALS, EmpathyPolicy
from bot.evaluation.engine import ROOT, EmpathyEngine, Turn, TurnReading, score_signals, turns_of
from bot.evaluation.evaluate import label_of, read_jsonl

DATA_FILES = "data/frustration/*.yml"
L2_CHOICES = (0.3, 1.0, 3.0)
CARRY_CHOICES = (0.2, 0.3, 0.4)
FOLDS = 5


@dataclass(frozen=True)
class Labelled:
    """The project's turns as a design matrix: one row per customer turn, a column per signal."""

    x: np.ndarray[Any, np.dtype[np.float64]]
    target: np.ndarray[Any, np.dtype[np.float64]]
    conversation: np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class DevSet:
    name: str
    dialogues: list[tuple[list[TurnReading], list[bool | None]]]


@dataclass(frozen=True)
class Candidate:
    l2: float
    carry: float
    fit: Fit
    policy: EmpathyPolicy
    dev_auc: dict[str, float | None]

    @property
    def mean_auc(self) -> float:
        values = [v for v in self.dev_auc.values() if v is not None]
        return float(np.mean(values)) if values else 0.0


def load_conversations(root: Path = ROOT) -> list[list[LabelledTurn]]:
    conversations: list[list[LabelledTurn]] = []
    paths = sorted(root.glob(DATA_FILES))
    if not paths:
        raise FrustrationDataError(f"no files match {DATA_FILES}")
    for path in paths:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as error:
            raise FrustrationDataError(f"{path}: not YAML ({error})") from error
        conversations.extend(parse_frustration_data(document, str(path)))
    return conversations


def design_matrix(engine: EmpathyEngine, conversations: Sequence[Sequence[LabelledTurn]]) -> Labelled:
    rows: list[list[float]] = []
    target: list[float] = []
    owner: list[int] = []
    for number, conversation in enumerate(conversations):
        readings = engine.dialogue_signals([Turn(t.speaker, t.text) for t in conversation])
        for reading in readings:
            label = conversation[reading.index].label
            assert label is not None  # every user turn has one (parse_frustration_data)
            rows.append([reading.signals.values.get(name, 0.0) for name in FRUSTRATION_SIGNALS])
            target.append(TARGET[label])
            owner.append(number)
    return Labelled(np.array(rows), np.array(target), np.array(owner))


def fit_columns(data: Labelled, l2: float, rows: Any = slice(None)) -> Fit:
    names = informative(data.x, FRUSTRATION_SIGNALS)
    columns = [FRUSTRATION_SIGNALS.index(n) for n in names]
    return fit_logistic(data.x[rows][:, columns], data.target[rows], names, l2=l2)


def cross_validated_auc(data: Labelled, l2: float) -> float | None:
    """AUC of frustrated vs the rest on held-out conversations (folds by conversation)."""
    fold = data.conversation % FOLDS
    probabilities = np.zeros(len(data.target))
    for k in range(FOLDS):
        fit = fit_columns(data, l2, fold != k)
        columns = [FRUSTRATION_SIGNALS.index(n) for n in fit.names]
        probabilities[fold == k] = fit.probability(data.x[fold == k][:, columns])
    return metrics.roc_auc(probabilities.tolist(), (data.target == 1.0).tolist())


def with_fit(policy: EmpathyPolicy, fit: Fit, carry: float) -> EmpathyPolicy:
    weights = {**policy.frustration_weights, **fit.policy_weights(policy.frustration_threshold)}
    return replace(policy, frustration_weights=weights, frustration_carry=carry)


def load_dev(engine: EmpathyEngine, paths: Sequence[Path]) -> list[DevSet]:
    sets = []
    for path in paths:
        dialogues = []
        for record in read_jsonl(path, ("turns",)):
            readings = engine.dialogue_signals(turns_of(record))
            labels = [label_of(record["turns"][r.index]) for r in readings]
            dialogues.append((readings, [None if lab is None else lab[0] for lab in labels]))
        sets.append(DevSet(path.name, dialogues))
    return sets


def dev_auc(policy: EmpathyPolicy, dev: DevSet) -> float | None:
    scores: list[float] = []
    positives: list[bool] = []
    for readings, labels in dev.dialogues:
        for scored, label in zip(score_signals(readings, policy), labels, strict=True):
            if label is not None:
                scores.append(scored.score.frustration.value)
                positives.append(label)
    return metrics.roc_auc(scores, positives)


def candidates(
    data: Labelled,
    policy: EmpathyPolicy,
    dev: Sequence[DevSet],
    l2_choices: Sequence[float] = L2_CHOICES,
    carry_choices: Sequence[float] = CARRY_CHOICES,
) -> list[Candidate]:
    """Every setting, fitted on the project's data and measured (AUC only) on the dev sets."""
    found = []
    for l2, carry in itertools.product(l2_choices, carry_choices):
        fit = fit_columns(data, l2)
        fitted = with_fit(policy, fit, carry)
        found.append(Candidate(l2, carry, fit, fitted, {d.name: dev_auc(fitted, d) for d in dev}))
    return found


def patched_policy_text(text: str, candidate: Candidate) -> str:
    for name, weight in candidate.fit.policy_weights(candidate.policy.frustration_threshold).items():
        text = set_number(text, "frustration", name, weight)
    return set_number(text, "frustration", "carry_over", candidate.carry)


def diff(before: str, after: str, name: str) -> str:
    return "".join(difflib.unified_diff(before.splitlines(True), after.splitlines(True), name, name))


def describe(chosen: Candidate, previous: EmpathyPolicy) -> str:
    """The chosen weights next to the current ones; signals without evidence are named as kept."""
    fitted = chosen.fit.policy_weights(chosen.policy.frustration_threshold)
    lines = [f"{'signal':<22}{'current':>9}{'fitted':>9}"]
    for name in FRUSTRATION_SIGNALS:
        new = f"{fitted[name]:9.2f}" if name in fitted else "     kept"
        lines.append(f"{name:<22}{previous.frustration_weights[name]:9.2f}{new}")
    lines.append(f"{'carry_over':<22}{previous.frustration_carry:9.2f}{chosen.carry:9.2f}")
    lines.append("kept: no evidence for that signal in data/frustration (a transcript cannot show it)")
    return "\n".join(lines)
