"""A small multinomial logistic regression in numpy, for the emotion model.

The emotion classifier has a few hundred designer-written examples and ~400 features, so a
closed, dependency-free trainer is enough and keeps the eval command, the Rasa component and
the tests on exactly the same code.  Full-batch gradient descent with L2; deterministic.
"""

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SoftmaxModel:
    weights: Array  # (n_features, n_classes)
    bias: Array  # (n_classes,)
    labels: tuple[str, ...]

    def predict_proba(self, features: Array) -> Array:
        logits = np.atleast_2d(features) @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    def to_arrays(self) -> dict[str, Array]:
        return {"weights": self.weights, "bias": self.bias, "labels": np.array(self.labels)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, Array]) -> "SoftmaxModel":
        return cls(
            np.asarray(arrays["weights"], dtype=np.float64),
            np.asarray(arrays["bias"], dtype=np.float64),
            tuple(str(label) for label in arrays["labels"]),
        )


def train_softmax(
    features: Array,
    targets: list[str],
    labels: tuple[str, ...],
    l2: float = 1e-3,
    epochs: int = 400,
    learning_rate: float = 2.0,
) -> SoftmaxModel:
    """Fits weights on ``features`` (rows) for ``targets``; classes are weighted to count equally."""
    index = {label: i for i, label in enumerate(labels)}
    unknown = set(targets) - set(index)
    if unknown:
        raise ValueError(f"targets outside the label set: {sorted(unknown)}")
    x = np.asarray(features, dtype=np.float64)
    y = np.zeros((len(targets), len(labels)))
    y[np.arange(len(targets)), [index[t] for t in targets]] = 1.0
    counts = y.sum(axis=0)
    sample_weight = (y @ np.where(counts > 0, len(targets) / (len(labels) * np.maximum(counts, 1)), 0.0))[
        :, None
    ]
    weights = np.zeros((x.shape[1], len(labels)))
    bias = np.zeros(len(labels))
    n = len(targets)
    for _ in range(epochs):
        model = SoftmaxModel(weights, bias, labels)
        error = (model.predict_proba(x) - y) * sample_weight / n
        weights = weights - learning_rate * (x.T @ error + l2 * weights)
        bias = bias - learning_rate * error.sum(axis=0)
    return SoftmaxModel(weights, bias, labels)
