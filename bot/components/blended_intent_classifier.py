"""Intent classifier over MiniLM sentence embeddings blended with TF-IDF-weighted n-gram counts.

Why not DIET: on BANKING77 (bench/README.md) DIET needs ~100 epochs (tens of minutes on a CPU)
and still trails a linear model over MiniLM embeddings.  Why not Rasa's LogisticRegression-
Classifier: it feeds raw counts next to unit-length embeddings, so long messages drown the
embedding.  Here each featurizer's sparse counts get sublinear TF-IDF and unit length, the
embedding gets a weight, and a multinomial logistic regression learns from all of them.
Prediction is numpy only (weights and IDF are stored as arrays, no pickles).
"""

import logging
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.featurizers.featurizer import Featurizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

DENSE_WEIGHT = "dense_weight"
C = "C"
MAX_ITER = "max_iter"
RANKING_LENGTH = "ranking_length"
ARRAYS_FILE = "blended_intent_classifier.npz"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class BlendedIntentClassifier(IntentClassifier, GraphComponent):
    """Multinomial logistic regression on [weighted embedding, TF-IDF n-grams per featurizer]."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Featurizer]

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # How much the (unit-length) sentence embedding counts next to each unit-length n-gram block.
            DENSE_WEIGHT: 2.0,
            # Inverse regularisation strength of the logistic regression.
            C: 10.0,
            MAX_ITER: 1000,
            # Intents listed in the parse result's intent_ranking.
            RANKING_LENGTH: 10,
        }

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._origins: list[str] = []
        self._idf: dict[str, npt.NDArray[np.float64]] = {}
        self._weights: npt.NDArray[np.float64] | None = None
        self._bias: npt.NDArray[np.float64] | None = None
        self._intents: list[str] = []
        self._dense_dims = 0

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "BlendedIntentClassifier":
        return cls(config, model_storage, resource)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        for key in (DENSE_WEIGHT, C):
            value = config.get(key)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise InvalidConfigException(
                    f"BlendedIntentClassifier: '{key}' must be a positive number, got {value!r}."
                )
        for key in (MAX_ITER, RANKING_LENGTH):
            value = config.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidConfigException(
                    f"BlendedIntentClassifier: '{key}' must be a positive integer, got {value!r}."
                )

    # --- features --------------------------------------------------------------------------
    @staticmethod
    def _sentence_features(
        message: Message,
    ) -> tuple[dict[str, scipy.sparse.spmatrix], npt.NDArray[np.float64] | None]:
        sparse: dict[str, scipy.sparse.spmatrix] = {}
        dense: list[npt.NDArray[np.float64]] = []
        for feature in message.features:
            if feature.attribute != TEXT or feature.type != FEATURE_TYPE_SENTENCE:
                continue
            if feature.is_sparse():
                sparse[str(feature.origin)] = scipy.sparse.csr_matrix(feature.features)
            else:
                dense.append(np.asarray(feature.features, dtype=np.float64).reshape(-1))
        return sparse, (np.concatenate(dense) if dense else None)

    def _matrix(self, messages: list[Message]) -> npt.NDArray[np.float64]:
        blocks: dict[str, list[scipy.sparse.spmatrix]] = {origin: [] for origin in self._origins}
        dense_rows = []
        dense_size = self._dense_dims
        for message in messages:
            sparse, dense = self._sentence_features(message)
            for origin in self._origins:
                size = len(self._idf[origin])
                row = sparse.get(origin)
                blocks[origin].append(
                    row if row is not None and row.shape[1] == size else scipy.sparse.csr_matrix((1, size))
                )
            dense_rows.append(
                dense if dense is not None and len(dense) == dense_size else np.zeros(dense_size)
            )
        parts = [
            np.asarray(dense_rows, dtype=np.float64).reshape(len(messages), dense_size)
            * self._config[DENSE_WEIGHT]
        ]
        for origin in self._origins:
            counts = scipy.sparse.vstack(blocks[origin]).tocsr().astype(np.float64)
            counts.data = 1.0 + np.log(np.maximum(counts.data, 1e-12))  # sublinear term frequency
            weighted = counts.multiply(self._idf[origin]).toarray()
            norms = np.linalg.norm(weighted, axis=1, keepdims=True)
            parts.append(weighted / np.where(norms > 0, norms, 1.0))
        return np.hstack(parts)

    # --- training --------------------------------------------------------------------------
    def train(self, training_data: TrainingData) -> Resource:
        from sklearn.linear_model import LogisticRegression

        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            logger.warning("BlendedIntentClassifier: no intent examples, nothing to train.")
            return self._resource
        first_sparse, first_dense = self._sentence_features(examples[0])
        self._origins = sorted(first_sparse)
        self._dense_dims = 0 if first_dense is None else len(first_dense)
        n = len(examples)
        for origin in self._origins:
            size = first_sparse[origin].shape[1]
            document_frequency = np.zeros(size)
            for example in examples:
                row = self._sentence_features(example)[0].get(origin)
                if row is not None:
                    document_frequency[row.nonzero()[1]] += 1
            self._idf[origin] = np.log((1 + n) / (1 + document_frequency)) + 1.0
        x = self._matrix(examples)
        targets = [str(e.get(INTENT)) for e in examples]
        model = LogisticRegression(
            C=self._config[C], max_iter=self._config[MAX_ITER], class_weight="balanced"
        )
        model.fit(x, targets)
        self._intents = [str(c) for c in model.classes_]
        if len(self._intents) == 2:  # sklearn keeps one weight vector for two classes
            self._weights = np.hstack([-model.coef_.T, model.coef_.T])
            self._bias = np.array([-model.intercept_[0], model.intercept_[0]])
        else:
            self._weights, self._bias = model.coef_.T, model.intercept_
        self.persist()
        return self._resource

    # --- prediction ------------------------------------------------------------------------
    def process(self, messages: list[Message]) -> list[Message]:
        if self._weights is None or self._bias is None or not messages:
            return messages
        logits = self._matrix(messages) @ self._weights + self._bias
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        for message, row in zip(messages, probabilities, strict=True):
            order = np.argsort(-row)
            ranking = [{"name": self._intents[i], "confidence": float(row[i])} for i in order]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking[: self._config[RANKING_LENGTH]], add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    # --- persistence -----------------------------------------------------------------------
    def persist(self) -> None:
        if self._weights is None or self._bias is None:
            return
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(
                directory / ARRAYS_FILE,
                weights=self._weights,
                bias=self._bias,
                intents=np.array(self._intents),
                origins=np.array(self._origins),
                dense_dims=np.array(self._dense_dims),
                **{f"idf_{i}": self._idf[origin] for i, origin in enumerate(self._origins)},
            )

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "BlendedIntentClassifier":
        component = cls(config, model_storage, resource)
        try:
            with model_storage.read_from(resource) as directory:
                arrays = np.load(directory / ARRAYS_FILE, allow_pickle=False)
                component._weights = arrays["weights"]
                component._bias = arrays["bias"]
                component._intents = [str(i) for i in arrays["intents"]]
                component._origins = [str(o) for o in arrays["origins"]]
                component._dense_dims = int(arrays["dense_dims"])
                component._idf = {o: arrays[f"idf_{i}"] for i, o in enumerate(component._origins)}
        except (ValueError, FileNotFoundError, KeyError):
            logger.warning("BlendedIntentClassifier: no trained weights in the model; it will not classify.")
        return component
