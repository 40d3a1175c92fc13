"""Metrics as ../shared/data/README.md defines them: ROC AUC, F1 at a fixed threshold, Spearman rho."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def _ranks(values: Sequence[float]) -> npt.NDArray[np.float64]:
    """Average ranks (1-based), ties sharing their mean rank."""
    array = np.asarray(values, dtype=float)
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
    s, y = np.asarray(scores, dtype=float), np.asarray(positives, dtype=bool)
    curve = []
    for threshold in np.linspace(1.0, 0.0, points):
        predicted = s >= threshold
        tpr = float((predicted & y).sum() / max(1, y.sum()))
        fpr = float((predicted & ~y).sum() / max(1, (~y).sum()))
        curve.append((fpr, tpr))
    return [(0.0, 0.0), *curve, (1.0, 1.0)]


def precision_recall_f1(predicted: Sequence[bool], positives: Sequence[bool]) -> tuple[float, float, float]:
    p, y = np.asarray(predicted, dtype=bool), np.asarray(positives, dtype=bool)
    tp = float((p & y).sum())
    precision = tp / p.sum() if p.sum() else 0.0
    recall = tp / y.sum() if y.sum() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
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
