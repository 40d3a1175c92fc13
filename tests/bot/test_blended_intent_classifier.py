import numpy as np
import pytest
import scipy.sparse
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, INTENT, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.blended_intent_classifier import BlendedIntentClassifier

VOCABULARY = ["where", "parcel", "cancel", "subscription", "refund", "money"]
INTENTS = {
    "order_status": ["where", "parcel"],
    "cancel_subscription": ["cancel", "subscription"],
    "refund_status": ["refund", "money"],
}


def featurized(words: list[str], intent: str | None, dense: np.ndarray) -> Message:
    message = Message({TEXT: " ".join(words), **({INTENT: intent} if intent else {})})
    counts = np.array([[words.count(w) for w in VOCABULARY]], dtype=float)
    message.add_features(Features(scipy.sparse.coo_matrix(counts), FEATURE_TYPE_SENTENCE, TEXT, "counts"))
    message.add_features(Features(dense.reshape(1, -1), FEATURE_TYPE_SENTENCE, TEXT, "minilm"))
    return message


def training_data() -> TrainingData:
    rng = np.random.default_rng(0)
    centres = {intent: rng.normal(size=8) for intent in INTENTS}
    examples = []
    for intent, words in INTENTS.items():
        for i in range(6):
            noise = rng.normal(scale=0.1, size=8)
            examples.append(featurized(words[: 1 + i % 2], intent, centres[intent] + noise))
    return TrainingData(examples)


def make(tmp_path, config: dict | None = None) -> tuple[BlendedIntentClassifier, LocalModelStorage, Resource]:
    storage = LocalModelStorage(tmp_path)
    resource = Resource("blended")
    context = ExecutionContext(node_name="blended", graph_schema=None)  # type: ignore[arg-type]
    full = {**BlendedIntentClassifier.get_default_config(), **(config or {})}
    return BlendedIntentClassifier.create(full, storage, resource, context), storage, resource


def test_trained_classifier_ranks_the_right_intent_and_survives_a_reload(tmp_path) -> None:
    classifier, storage, resource = make(tmp_path)
    classifier.train(training_data())
    context = ExecutionContext(node_name="blended", graph_schema=None)  # type: ignore[arg-type]
    reloaded = BlendedIntentClassifier.load(
        BlendedIntentClassifier.get_default_config(), storage, resource, context
    )

    rng = np.random.default_rng(1)
    centre = np.array(
        [
            m.features[1].features
            for m in training_data().intent_examples
            if m.get(INTENT) == "cancel_subscription"
        ]
    ).mean(axis=0)
    message = featurized(["cancel"], None, centre.reshape(-1) + rng.normal(scale=0.1, size=8))
    reloaded.process([message])

    assert message.get(INTENT)["name"] == "cancel_subscription"
    ranking = message.get("intent_ranking")
    assert ranking[0]["name"] == "cancel_subscription"
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)
    assert len(ranking) == 3


def test_a_message_without_features_still_gets_an_intent(tmp_path) -> None:
    classifier, _, _ = make(tmp_path)
    classifier.train(training_data())
    bare = Message({TEXT: ""})

    classifier.process([bare])

    assert bare.get(INTENT)["name"] in INTENTS


@pytest.mark.parametrize(
    "key, value", [("C", 0), ("dense_weight", "lots"), ("ranking_length", 0), ("max_iter", True)]
)
def test_invalid_config_names_the_key(key: str, value: object) -> None:
    with pytest.raises(InvalidConfigException, match=key):
        BlendedIntentClassifier.validate_config({**BlendedIntentClassifier.get_default_config(), key: value})
