"""The metrics `attune eval` reports (bot/empathy/metrics.py), on examples small enough to check by hand.

Every expected value is worked out in the test from the definition (pairs counted for ROC AUC, ranks
for Spearman, counts for precision and recall), and the same inputs are cross-checked against
scikit-learn and SciPy, which Rasa already installs.  The labelling rules and the F1 threshold of
``evaluate_dialogues`` run with a stand-in engine that returns given scores: no model is loaded.
"""

import itertools
import json
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest
from scipy import stats
from sklearn.metrics import f1_score, precision_recall_fscore_support, roc_auc_score
from sklearn.preprocessing import MultiLabelBinarizer

from bot.empathy import metrics
from bot.empathy.scoring import Score, TurnScore
from bot.evaluation.engine import ScoredTurn, Turn
from bot.evaluation.evaluate import evaluate_dialogues, label_of

NAN = float("nan")


def pairwise_auc(scores: Sequence[float], positives: Sequence[bool]) -> float:
    """ROC AUC from its definition: the share of (positive, negative) pairs the positive wins, ties half."""
    pos = [s for s, p in zip(scores, positives, strict=True) if p]
    neg = [s for s, p in zip(scores, positives, strict=True) if not p]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return wins / (len(pos) * len(neg))


# --- ROC AUC ---------------------------------------------------------------------------------------


def test_auc_of_four_points_is_the_share_of_pairs_the_positives_win() -> None:
    # Positives 0.85 and 0.35, negatives 0.65 and 0.15: 0.85 beats both, 0.35 beats only 0.15.
    assert metrics.roc_auc([0.85, 0.65, 0.35, 0.15], [True, False, True, False]) == pytest.approx(3 / 4)


def test_a_tie_between_a_positive_and_a_negative_counts_half() -> None:
    # Pairs (0.8, 0.5) 1, (0.8, 0.2) 1, (0.5, 0.5) 1/2, (0.5, 0.2) 1: 3.5 of 4.
    assert metrics.roc_auc([0.8, 0.5, 0.5, 0.2], [True, True, False, False]) == pytest.approx(3.5 / 4)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [([0.9, 0.8, 0.2, 0.1], 1.0), ([0.1, 0.2, 0.8, 0.9], 0.0), ([0.4, 0.4, 0.4, 0.4], 0.5)],
    ids=["perfect", "inverted", "all-tied"],
)
def test_auc_extremes(scores: list[float], expected: float) -> None:
    assert metrics.roc_auc(scores, [True, True, False, False]) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("scores", "positives"),
    [([], []), ([0.2, 0.9], [True, True]), ([0.2, 0.9], [False, False])],
    ids=["empty", "only-positives", "only-negatives"],
)
def test_auc_is_undefined_without_both_classes(scores: list[float], positives: list[bool]) -> None:
    assert metrics.roc_auc(scores, positives) is None


def test_auc_matches_the_pair_count_and_scikit_learn_on_tied_random_scores() -> None:
    rng = random.Random(15)
    for _ in range(20):
        n = rng.randint(2, 40)
        scores = [round(rng.random(), 1) for _ in range(n)]  # one decimal: many ties
        positives = [rng.random() < 0.4 for _ in range(n)]
        if all(positives) or not any(positives):
            continue
        got = metrics.roc_auc(scores, positives)
        assert got == pytest.approx(pairwise_auc(scores, positives))
        assert got == pytest.approx(roc_auc_score(positives, scores))


def test_auc_of_a_nan_score_is_not_a_number_pretending_to_be_one() -> None:
    try:
        result = metrics.roc_auc([0.9, NAN], [True, False])
    except ValueError:
        return
    assert result is None


# --- ROC curve -------------------------------------------------------------------------------------


def test_roc_curve_steps_through_the_thresholds() -> None:
    # Thresholds 1, 0.75, 0.5, 0.25, 0: each step lets in one more score, positive (up) or negative (right).
    curve = metrics.roc_curve([0.85, 0.65, 0.35, 0.15], [True, False, True, False], points=5)

    assert curve == [(0.0, 0.0), (0.0, 0.0), (0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (1.0, 1.0), (1.0, 1.0)]


def test_area_under_the_curve_is_the_auc_when_the_grid_separates_the_scores() -> None:
    scores, positives = [0.93, 0.71, 0.55, 0.42, 0.27, 0.08], [True, True, False, True, False, False]
    curve = metrics.roc_curve(scores, positives, points=101)
    area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in itertools.pairwise(curve))

    assert area == pytest.approx(metrics.roc_auc(scores, positives))


def test_roc_curve_runs_from_the_origin_to_the_corner_without_turning_back() -> None:
    rng = random.Random(3)
    scores = [rng.random() for _ in range(50)]
    curve = metrics.roc_curve(scores, [rng.random() < 0.5 for _ in scores], points=21)

    assert len(curve) == 21 + 2
    assert (curve[0], curve[-1]) == ((0.0, 0.0), (1.0, 1.0))
    assert all(x0 <= x1 and y0 <= y1 for (x0, y0), (x1, y1) in itertools.pairwise(curve))
    assert all(0.0 <= v <= 1.0 for point in curve for v in point)


def test_a_score_equal_to_a_threshold_is_predicted_positive() -> None:
    curve = metrics.roc_curve([0.5, 0.0], [True, False], points=3)  # thresholds 1, 0.5, 0

    assert curve[2] == (0.0, 1.0)  # at 0.5 the positive scored exactly 0.5 is in


def test_roc_curve_of_one_class_or_nothing_does_not_divide_by_zero() -> None:
    assert metrics.roc_curve([], [], points=3) == [(0.0, 0.0)] * 4 + [(1.0, 1.0)]
    # Only positives: no false positive rate to speak of, it stays 0.
    assert metrics.roc_curve([0.6, 0.2], [True, True], points=3) == [
        (0.0, 0.0),
        (0.0, 0.0),
        (0.0, 0.5),
        (0.0, 1.0),
        (1.0, 1.0),
    ]


# --- precision, recall, F1 -------------------------------------------------------------------------


def test_precision_recall_f1_from_the_counts() -> None:
    # tp = 1 (the first), 1 predicted positive, 3 actual positives.
    precision, recall, f1 = metrics.precision_recall_f1(
        [True, False, False, False], [True, True, True, False]
    )

    assert (precision, recall) == pytest.approx((1.0, 1 / 3))
    assert f1 == pytest.approx(2 * 1.0 * (1 / 3) / (1.0 + 1 / 3))  # = 0.5


@pytest.mark.parametrize(
    ("predicted", "positives", "expected"),
    [
        ([], [], (0.0, 0.0, 0.0)),
        ([False, False], [True, False], (0.0, 0.0, 0.0)),  # nothing predicted: precision 0, not 0/0
        ([True, False], [False, False], (0.0, 0.0, 0.0)),  # nothing to find: recall 0
        ([True, True], [True, True], (1.0, 1.0, 1.0)),
        ([False, True], [True, False], (0.0, 0.0, 0.0)),  # all wrong: F1 0, not 0/0
    ],
    ids=["empty", "none-predicted", "no-positives", "all-right", "all-wrong"],
)
def test_precision_recall_f1_without_a_denominator_is_zero(
    predicted: list[bool], positives: list[bool], expected: tuple[float, float, float]
) -> None:
    assert metrics.precision_recall_f1(predicted, positives) == pytest.approx(expected)


def test_precision_recall_f1_match_scikit_learn_with_zero_division_zero() -> None:
    rng = random.Random(7)
    for _ in range(30):
        n = rng.randint(1, 30)
        predicted = [rng.random() < 0.3 for _ in range(n)]
        positives = [rng.random() < 0.3 for _ in range(n)]
        expected = precision_recall_fscore_support(
            positives, predicted, average="binary", zero_division=0, labels=[False, True], pos_label=True
        )[:3]

        assert metrics.precision_recall_f1(predicted, positives) == pytest.approx(expected)


# --- Spearman --------------------------------------------------------------------------------------


def test_spearman_of_one_swapped_pair() -> None:
    # Rank differences 0, 1, -1, 0: rho = 1 - 6 * 2 / (4 * (16 - 1)) = 0.8.
    assert metrics.spearman([1, 2, 3, 4], [10, 30, 20, 40]) == pytest.approx(0.8)


def test_spearman_with_ties_is_pearson_of_average_ranks() -> None:
    # Ranks [1, 2.5, 2.5, 4] and [1, 2, 3, 4]: deviations [-1.5, 0, 0, 1.5] and [-1.5, -.5, .5, 1.5],
    # covariance sum 4.5, sums of squares 4.5 and 5: rho = 4.5 / sqrt(4.5 * 5) = sqrt(0.9).
    a, b = [1.0, 2.0, 2.0, 3.0], [0.1, 0.2, 0.3, 0.4]

    assert metrics.spearman(a, b) == pytest.approx(math.sqrt(0.9))
    assert metrics.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).correlation)


def test_spearman_is_one_for_any_increasing_relation_and_minus_one_reversed() -> None:
    xs = [0.1, 0.4, 0.5, 2.0, 7.0]

    assert metrics.spearman(xs, [x**3 for x in xs]) == pytest.approx(1.0)
    assert metrics.spearman(xs, [-math.exp(x) for x in xs]) == pytest.approx(-1.0)


@pytest.mark.parametrize(
    ("a", "b"),
    [([], []), ([1.0], [2.0]), ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]), ([1.0, 2.0, 3.0], [4.0, 4.0, 4.0])],
    ids=["empty", "one-point", "constant-a", "constant-b"],
)
def test_spearman_is_undefined_for_fewer_than_two_points_or_a_constant(
    a: list[float], b: list[float]
) -> None:
    assert metrics.spearman(a, b) is None


def test_spearman_matches_scipy_on_tied_random_ratings() -> None:
    rng = random.Random(11)
    scores = [rng.random() for _ in range(60)]
    ratings = [float(min(4, int(s * 5 + rng.gauss(0, 1)) % 5)) for s in scores]  # 0-4, many ties

    assert metrics.spearman(scores, ratings) == pytest.approx(stats.spearmanr(scores, ratings).correlation)


def test_spearman_with_a_nan_is_undefined() -> None:
    try:
        result = metrics.spearman([1.0, 2.0, NAN, 4.0], [1.0, 2.0, 3.0, 4.0])
    except ValueError:
        return
    assert result is None


# --- inputs of different lengths -------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: metrics.roc_auc([0.1, 0.9, 0.3], [False, True]), id="roc_auc"),
        pytest.param(
            lambda: metrics.precision_recall_f1([True], [True, False, True]), id="precision_recall_f1"
        ),
        pytest.param(lambda: metrics.roc_curve([0.5], [True, False, True]), id="roc_curve"),
        pytest.param(lambda: metrics.spearman([1.0, 2.0], [1.0]), id="spearman"),
    ],
)
def test_scores_and_labels_of_different_lengths_are_refused(call: Callable[[], object]) -> None:
    with pytest.raises((ValueError, IndexError)):
        call()


# --- multi-label macro F1 --------------------------------------------------------------------------

LABELS = ["anger", "joy", "sadness"]


def test_macro_f1_averages_each_labels_f1() -> None:
    predicted = [{"anger"}, {"joy"}, {"anger", "joy"}, set()]
    gold = [{"anger"}, {"sadness"}, {"joy"}, {"sadness"}]
    # anger: tp 1 of 2 predicted, 1 gold -> P 1/2, R 1, F1 2/3.  joy: the same.  sadness: never
    # predicted -> F1 0.  Macro: (2/3 + 2/3 + 0) / 3.
    macro, per_class = metrics.multilabel_macro_f1(predicted, gold, LABELS)

    assert per_class == pytest.approx({"anger": 2 / 3, "joy": 2 / 3, "sadness": 0.0})
    assert macro == pytest.approx(4 / 9)


def test_macro_f1_counts_a_label_nobody_used_as_zero_as_scikit_learn_does() -> None:
    predicted, gold = [{"anger"}, {"joy"}], [{"anger"}, {"joy"}]
    macro, per_class = metrics.multilabel_macro_f1(predicted, gold, LABELS)
    binarizer = MultiLabelBinarizer(classes=LABELS)
    expected = f1_score(
        binarizer.fit_transform(gold), binarizer.transform(predicted), average="macro", zero_division=0
    )

    assert per_class["sadness"] == 0.0
    assert macro == pytest.approx(2 / 3) == pytest.approx(expected)


def test_macro_f1_ignores_predicted_labels_outside_the_label_set() -> None:
    macro, per_class = metrics.multilabel_macro_f1([{"anger", "neutral"}], [{"anger"}], ["anger"])

    assert macro == pytest.approx(1.0)
    assert per_class == pytest.approx({"anger": 1.0})


# --- what evaluate_dialogues feeds the metrics -----------------------------------------------------


@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        ({"frustration": 3}, (True, 3.0)),
        ({"frustration": 2}, (False, 2.0)),
        ({"frustration": 4.0, "satisfaction": 1}, (True, 4.0)),  # frustration rating wins
        ({"satisfaction": 2}, (True, -2.0)),  # dissatisfied at <= 2; negated so higher = worse
        ({"satisfaction": 3}, (False, -3.0)),
        ({"frustration": "3"}, None),  # not a number: not rated
        ({}, None),
    ],
)
def test_which_turns_count_as_positive(turn: dict[str, object], expected: tuple[bool, float] | None) -> None:
    assert label_of(turn) == expected


class GivenScores:
    """Stands in for the engine: scores each user turn with the next of ``scores``."""

    def __init__(self, scores: list[float], threshold: float) -> None:
        self._scores = iter(scores)
        # What evaluate_dialogues reads of the policy: the threshold, and the offer line for the misses.
        self.policy = SimpleNamespace(
            frustration_threshold=threshold, escalation=SimpleNamespace(offer_human_above=0.6)
        )

    def score_dialogue(self, turns: Sequence[Turn]) -> list[ScoredTurn]:
        return [
            ScoredTurn(i, t.text, self._turn_score(next(self._scores)))
            for i, t in enumerate(turns)
            if t.speaker == "user"
        ]

    @staticmethod
    def _turn_score(frustration: float) -> TurnScore:
        return TurnScore(Score(frustration, frustration, 0.0, 0.5, {}), Score(0.0, 0.0, 0.0, 0.5, {}), (), ())


def test_evaluate_dialogues_scores_rated_turns_at_the_shipped_threshold(tmp_path: Path) -> None:
    turns = [
        {"speaker": "user", "text": "a", "frustration": 4},  # score 0.5 = threshold: predicted
        {"speaker": "bot", "text": "reply"},
        {"speaker": "user", "text": "b", "frustration": 0},  # 0.49: not predicted
        {"speaker": "user", "text": "c"},  # unrated: not counted
        {"speaker": "user", "text": "d", "frustration": 3},  # 0.2: a positive missed
    ]
    path = tmp_path / "dialogues.jsonl"
    path.write_text(json.dumps({"id": "x", "turns": turns}) + "\n", encoding="utf-8")

    result = evaluate_dialogues(path, GivenScores([0.5, 0.49, 0.9, 0.2], threshold=0.5))  # type: ignore[arg-type]

    assert (result["n_turns"], result["positives"]) == (3, 2)
    # Rated scores 0.5 (+), 0.49 (-), 0.2 (+): 0.5 beats 0.49, 0.2 does not.
    assert result["auc"] == pytest.approx(1 / 2)
    # Predicted: only 0.5 (>= 0.5) -> tp 1, precision 1, recall 1/2, F1 2/3.
    assert (result["precision"], result["recall"], result["f1"]) == pytest.approx((1.0, 0.5, 2 / 3))
    # Spearman of scores [0.5, 0.49, 0.2] against ratings [4, 0, 3]: ranks [3, 2, 1] vs [3, 1, 2] -> 0.5.
    assert result["spearman"] == pytest.approx(0.5)
