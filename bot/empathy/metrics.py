"""Metrics as ../shared/data/README.md defines them: ROC AUC, F1 at a fixed threshold, Spearman rho.

In the pure core because two processes use them: ``attune eval`` (bot/evaluation) and the designer's
playground in the handoff service, which may import only bot.empathy.  Inputs are checked: scores
and labels of different lengths, or a NaN score, are refused, since numpy would otherwise broadcast
or rank them into a number that looks like a result.
"""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def _same_length(a: Sequence[object], b: Sequence[object]) -> None:
    if len(a) != len(b):
        raise ValueError(f"{len(a)} scores or predictions against {len(b)} labels: they must pair up")


def _numbers(values: Sequence[float]) -> npt.NDArray[np.float64]:
    array = np.asarray(values, dtype=float)
    if np.isnan(array).any():
        raise ValueError("a score is NaN: it has no rank, so no AUC or correlation can be computed")
    return array


def _ranks(values: Sequence[float]) -> npt.NDArray[np.float64]:
    """Average ranks (1-based), ties sharing their mean rank."""
    array = _numbers(values)
    order = np.argsort(array, kind="mergesort")
    ranks = np.empty(len(array))
    sorted_values = array[order]
    start = 0
    while start < len(array):
        end = start
        while end + 1 < len(array) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def roc_auc(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """Probability that a random positive outranks a random negative (Mann-Whitney U)."""
    _same_length(scores, positives)
    labels = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _ranks(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(
    scores: Sequence[float], positives: Sequence[bool], points: int = 101
) -> list[tuple[float, float]]:
    """(false positive rate, true positive rate) pairs over evenly spaced thresholds."""
    _same_length(scores, positives)
    s, y = _numbers(scores), np.asarray(positives, dtype=bool)
    curve = []
    for threshold in np.linspace(1.0, 0.0, points):
        predicted = s >= threshold
        tpr = float((predicted & y).sum() / max(1, y.sum()))
        fpr = float((predicted & ~y).sum() / max(1, (~y).sum()))
        curve.append((fpr, tpr))
    return [(0.0, 0.0), *curve, (1.0, 1.0)]


def precision_recall_f1(predicted: Sequence[bool], positives: Sequence[bool]) -> tuple[float, float, float]:
    _same_length(predicted, positives)
    p, y = np.asarray(predicted, dtype=bool), np.asarray(positives, dtype=bool)
    tp = float((p & y).sum())
    precision = tp / p.sum() if p.sum() else 0.0
    recall = tp / y.sum() if y.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    _same_length(a, b)
    if len(a) < 2:
        return None
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def multilabel_macro_f1(
    predicted: Sequence[set[str]], gold: Sequence[set[str]], labels: Sequence[str]
) -> tuple[float, dict[str, float]]:
    per_class = {}
    for label in labels:
        p = [label in s for s in predicted]
        g = [label in s for s in gold]
        per_class[label] = precision_recall_f1(p, g)[2]
    return float(np.mean(list(per_class.values()))), per_class
