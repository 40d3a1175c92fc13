"""AUC and F1 as ../shared/data/README.md defines them, for the playground's dev-file comparison.

The eval command has the same two (bot/evaluation/metrics.py), but the handoff service may not import
bot.evaluation (it pulls in the sentence encoder); these are the few lines the page needs, with
numpy only.  tests/handoff/playground/test_measures.py checks them against hand-computed values.
"""

from collections.abc import Sequence

import numpy as np


def roc_auc(scores: Sequence[float], positives: Sequence[bool]) -> float | None:
    """The chance a random positive scores above a random negative (ties count half); None without both."""
    values = np.asarray(scores, dtype=float)
    labels = np.asarray(positives, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    # Tied scores share their mean rank.
    _, inverse = np.unique(values, return_inverse=True)
    mean_rank = np.bincount(inverse, weights=ranks) / np.bincount(inverse)
    tied = mean_rank[inverse]
    return float((tied[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def f1(predicted: Sequence[bool], positives: Sequence[bool]) -> float:
    p, y = np.asarray(predicted, dtype=bool), np.asarray(positives, dtype=bool)
    true_positives = float((p & y).sum())
    if true_positives == 0:
        return 0.0
    precision, recall = true_positives / p.sum(), true_positives / y.sum()
    return float(2 * precision * recall / (precision + recall))
