from pathlib import Path

import numpy as np
import pytest

from bot.empathy.softmax import Array, SoftmaxModel, train_softmax

LABELS = ("left", "right", "up")


def toy_problem() -> tuple[Array, list[str]]:
    rng = np.random.default_rng(0)
    centres = {"left": (-2.0, 0.0), "right": (2.0, 0.0), "up": (0.0, 2.5)}
    rows, targets = [], []
    for label, centre in centres.items():
        rows.append(rng.normal(centre, 0.4, size=(40, 2)))
        targets += [label] * 40
    return np.vstack(rows), targets


def accuracy(model: SoftmaxModel, features: Array, targets: list[str]) -> float:
    predicted = [model.labels[i] for i in model.predict_proba(features).argmax(axis=1)]
    return float(np.mean([p == t for p, t in zip(predicted, targets, strict=True)]))


def test_trains_a_separable_problem_to_high_accuracy() -> None:
    features, targets = toy_problem()
    model = train_softmax(features, targets, LABELS)
    assert accuracy(model, features, targets) > 0.95


def test_probabilities_sum_to_one_per_row() -> None:
    features, targets = toy_problem()
    probabilities = train_softmax(features, targets, LABELS).predict_proba(features)
    assert probabilities.shape == (len(targets), len(LABELS))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)


def test_single_row_is_accepted() -> None:
    features, targets = toy_problem()
    model = train_softmax(features, targets, LABELS)
    assert model.labels[int(model.predict_proba(np.array([0.0, 3.0])).argmax())] == "up"


def test_untrained_model_is_uniform() -> None:
    model = SoftmaxModel(np.zeros((2, 3)), np.zeros(3), LABELS)
    np.testing.assert_allclose(model.predict_proba(np.ones(2)), [[1 / 3, 1 / 3, 1 / 3]])


def test_arrays_round_trip_gives_identical_probabilities() -> None:
    features, targets = toy_problem()
    model = train_softmax(features, targets, LABELS)
    restored = SoftmaxModel.from_arrays(model.to_arrays())
    assert restored.labels == LABELS
    np.testing.assert_array_equal(restored.predict_proba(features), model.predict_proba(features))


def test_arrays_round_trip_through_npz_file(tmp_path: Path) -> None:
    features, targets = toy_problem()
    model = train_softmax(features, targets, LABELS)
    np.savez(tmp_path / "model.npz", **model.to_arrays())
    with np.load(tmp_path / "model.npz") as arrays:
        restored = SoftmaxModel.from_arrays(dict(arrays))
    assert restored.labels == LABELS
    np.testing.assert_array_equal(restored.predict_proba(features), model.predict_proba(features))


def test_training_is_deterministic() -> None:
    features, targets = toy_problem()
    first = train_softmax(features, targets, LABELS)
    second = train_softmax(features, targets, LABELS)
    np.testing.assert_array_equal(first.weights, second.weights)


def test_unknown_target_label_raises_and_names_it() -> None:
    features, targets = toy_problem()
    targets[0] = "down"
    with pytest.raises(ValueError, match="'down'"):
        train_softmax(features, targets, LABELS)
