import numpy as np
import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.minilm_featurizer import MiniLMFeaturizer
from bot.components.onnx_encoder import OnnxSentenceEncoder


@pytest.fixture(scope="module")
def featurizer(tmp_path_factory: pytest.TempPathFactory) -> MiniLMFeaturizer:
    storage = LocalModelStorage(tmp_path_factory.mktemp("storage"))
    component = MiniLMFeaturizer.create(
        MiniLMFeaturizer.get_default_config(),
        storage,
        Resource("minilm"),
        ExecutionContext(node_name="minilm", graph_schema=None),  # type: ignore[arg-type]
    )
    assert isinstance(component, MiniLMFeaturizer)
    return component


def sentence_vector(message: Message) -> np.ndarray:
    _, sentence = message.get_dense_features(TEXT)
    assert sentence is not None
    return sentence.features


def test_each_message_gets_one_normalised_384_d_sentence_feature(featurizer: MiniLMFeaturizer) -> None:
    messages = [Message({TEXT: "where is my parcel"}), Message({TEXT: ""}), Message({TEXT: "🙃🙃"})]

    featurizer.process(messages)

    for message in messages:
        vector = sentence_vector(message)
        assert vector.shape == (1, 384)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
        sequence, _ = message.get_dense_features(TEXT)
        assert sequence is None  # sentence-level only; see the module docstring


def test_paraphrases_are_closer_than_unrelated_requests(featurizer: MiniLMFeaturizer) -> None:
    a, b, c = (
        Message({TEXT: t})
        for t in ("my parcel never showed up", "where is my delivery", "cancel my subscription")
    )
    featurizer.process([a, b, c])

    same = float(sentence_vector(a) @ sentence_vector(b).T)
    other = float(sentence_vector(a) @ sentence_vector(c).T)
    assert same > other + 0.1


def test_training_examples_are_featurized_and_the_model_loaded_offline(featurizer: MiniLMFeaturizer) -> None:
    data = TrainingData(
        [Message({TEXT: "hello", "intent": "greet"}), Message({TEXT: "bye", "intent": "goodbye"})]
    )

    featurizer.process_training_data(data)

    assert all(sentence_vector(m).shape == (1, 384) for m in data.training_examples)
    # ONNX Runtime on the exported file and the model's own tokenizer.json: no hub client is involved.
    assert isinstance(featurizer._get_encoder(), OnnxSentenceEncoder)


def test_a_100_kb_message_is_clipped_not_choked_on(featurizer: MiniLMFeaturizer) -> None:
    message = Message({TEXT: "refund " * 15_000})

    featurizer.process([message])

    assert sentence_vector(message).shape == (1, 384)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("batch_size", 0),
        ("max_chars", "lots"),
        ("model_path", "/nonexistent/model"),
        ("backend", "tensorflow"),
    ],
)
def test_bad_config_fails_naming_the_key(key: str, value: object) -> None:
    config = {**MiniLMFeaturizer.get_default_config(), key: value}

    with pytest.raises(InvalidConfigException, match=key):
        MiniLMFeaturizer(config, "minilm")
