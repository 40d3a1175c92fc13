"""Per-message emotion for Rasa: nine emotion probabilities plus message cues, in the parse data.

Reads the MiniLM sentence feature the MiniLMFeaturizer already computed (no second encoder
pass), adds cue features (bot/empathy/cues.py) and applies the emotion model trained, during
`rasa train`, from the designer-written examples in ``data/emotions/*.yml``.  The result is set
on the message as ``emotion`` with ``add_to_output=True`` so actions read it from
``tracker.latest_message``.  It also carries the message embedding, int8 in base64 (``vector``,
bot/empathy/compact_vector.py), so the action server can spot a rephrase without loading a model;
the tracker store drops it before an event is stored (docs/tracker-budget.md).  A failure here
never breaks a turn: the message gets ``{"error": ...}`` and the action server scores without emotion.
"""

import glob
import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException, RasaException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components import sentence_encoder
from bot.empathy import compact_vector
from bot.empathy.cues import without_quotes
from bot.empathy.emotion_model import EmotionModel, train_emotion_model
from bot.empathy.emotions import EmotionDataError, EmotionExample, check_coverage, parse_emotion_data
from bot.empathy.softmax import SoftmaxModel

logger = logging.getLogger(__name__)
# Where the channels' consent gate puts its answer in the message metadata.
CONSENT_KEY = "attune"

DATA_FILES = "data_files"
MODEL_PATH = "model_path"
OUTPUT_KEY = "emotion"  # bot.constants.PARSE_EMOTION; spelled here too so components stay rasa-side only
VECTOR_KEY = "vector"  # bot.constants.PARSE_EMOTION_VECTOR: the message embedding, packed
ARRAYS_FILE = "emotion_model.npz"
MODEL_NAME = "attune-emotion-1"
# Where bot/components/language_detector.py puts its reading (bot.constants.PARSE_LANGUAGE), and
# why a message got no emotion when it is in a language the model does not read.
LANGUAGE_KEY = "language"
SKIPPED_LANGUAGE = "unsupported_language"


class EmotionDataInvalid(RasaException):
    """The emotion training data cannot be used; the message says which file and line."""


def load_examples(pattern: str) -> list[EmotionExample]:
    paths = sorted(glob.glob(pattern))
    if not paths:
        raise EmotionDataInvalid(f"EmotionClassifier: no emotion data files match '{pattern}' ({DATA_FILES})")
    examples: list[EmotionExample] = []
    for path in paths:
        try:
            document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
            examples.extend(parse_emotion_data(document, source=path))
        except (EmotionDataError, yaml.YAMLError) as error:
            raise EmotionDataInvalid(str(error)) from error
    try:
        check_coverage(examples, pattern)
    except EmotionDataError as error:
        raise EmotionDataInvalid(str(error)) from error
    return examples


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class EmotionClassifier(GraphComponent):
    """Adds ``emotion`` (probabilities, top emotion, cues, embedding) to every parsed message."""

    @staticmethod
    def required_packages() -> list[str]:
        return ["sentence_transformers"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Glob of the designer-written emotion data (relative to where `rasa train` runs).
            DATA_FILES: "data/emotions/*.yml",
            # Used only when no MiniLM sentence feature is on the message; None = packaged model.
            MODEL_PATH: None,
            # Bump when bot/empathy's emotion model changes: Rasa's cache fingerprints only this file.
            "version": 5,  # 5: human_request needs a request, "another" is no repetition word (cues)
        }

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Retrain when the emotion data changes: Rasa does not know these files are inputs."""
        digest = hashlib.sha256()
        for path in sorted(glob.glob(str(config.get(DATA_FILES, "")))):
            digest.update(path.encode())
            digest.update(Path(path).read_bytes())
        return digest.hexdigest()

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        if not isinstance(config.get(DATA_FILES), str) or not config[DATA_FILES].strip():
            raise InvalidConfigException(
                f"EmotionClassifier: '{DATA_FILES}' must be a file glob, e.g. data/emotions/*.yml"
            )

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: EmotionModel | None,
    ) -> None:
        self._config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "EmotionClassifier":
        return cls(config, model_storage, resource, None)

    def _encoder(self) -> Any:
        return sentence_encoder.load_encoder(sentence_encoder.resolve_model_path(self._config[MODEL_PATH]))

    def _embeddings(self, messages: list[Message]) -> npt.NDArray[np.float32]:
        rows: list[npt.NDArray[np.float32] | None] = []
        for message in messages:
            _, sentence = message.get_dense_features(TEXT)
            vector = None if sentence is None else np.asarray(sentence.features, dtype=np.float32).reshape(-1)
            rows.append(vector if vector is not None and vector.shape[0] == 384 else None)
        texts_all = [str(m.get(TEXT) or "") for m in messages]
        # Quoted speech is someone else's emotion: embed the message without it.
        missing = [
            i for i, row in enumerate(rows) if row is None or without_quotes(texts_all[i]) != texts_all[i]
        ]
        if missing:
            texts = [without_quotes(texts_all[i]) for i in missing]
            for i, vector in zip(
                missing, sentence_encoder.encode(self._encoder(), texts, 64, 2000), strict=True
            ):
                rows[i] = vector
        return np.vstack([row for row in rows if row is not None]) if rows else np.zeros((0, 384), np.float32)

    def train(self, training_data: TrainingData) -> Resource:
        examples = load_examples(self._config[DATA_FILES])
        texts = [without_quotes(e.text) for e in examples]
        embeddings = sentence_encoder.encode(self._encoder(), texts, 64, 2000)
        self._model = train_emotion_model(embeddings, examples)
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(directory / ARRAYS_FILE, **self._model.softmax.to_arrays())
        logger.info(f"EmotionClassifier: trained on {len(examples)} examples from {self._config[DATA_FILES]}")
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "EmotionClassifier":
        try:
            with model_storage.read_from(resource) as directory:
                arrays = dict(np.load(directory / ARRAYS_FILE, allow_pickle=False))
            model: EmotionModel | None = EmotionModel(SoftmaxModel.from_arrays(arrays))
        except (ValueError, FileNotFoundError, KeyError):
            logger.warning("EmotionClassifier: no trained emotion model found; messages get no emotion.")
            model = None
        return cls(config, model_storage, resource, model)

    def process(self, messages: list[Message]) -> list[Message]:
        # Only with consent: a message the channel's consent gate did not clear is not read at all
        # (bot/components/consent_gate.py).  Messages from no channel (rasa test, /model/parse) are.
        # Nor is a message in a language the model was not trained on (bot/components/
        # language_detector.py runs before this): no emotion claim about words it cannot read.
        readable = []
        for message in messages:
            if not _consented(message):
                message.set(
                    OUTPUT_KEY, {"skipped": "emotion processing is off for this customer"}, add_to_output=True
                )
            elif (language := _unreadable_language(message)) is not None:
                skipped = f"the message is in a language the emotion model does not read ({language})"
                message.set(
                    OUTPUT_KEY,
                    {"skipped": skipped, "reason": SKIPPED_LANGUAGE, "language": language},
                    add_to_output=True,
                )
            else:
                readable.append(message)
        self._read(readable)
        return messages

    def _read(self, messages: list[Message]) -> None:
        if not messages:
            return
        if self._model is None:
            for message in messages:
                message.set(OUTPUT_KEY, {"error": "emotion model not trained"}, add_to_output=True)
            return
        try:
            embeddings = self._embeddings(messages)
            readings = self._model.read(embeddings, [str(m.get(TEXT) or "") for m in messages])
        except Exception as error:
            logger.exception("EmotionClassifier: scoring failed")
            for message in messages:
                message.set(OUTPUT_KEY, {"error": f"{type(error).__name__}: {error}"}, add_to_output=True)
            return
        for message, reading, vector in zip(messages, readings, embeddings, strict=True):
            message.set(
                OUTPUT_KEY,
                {
                    "model": MODEL_NAME,
                    "top": reading.top,
                    "probabilities": {k: round(v, 4) for k, v in reading.probabilities.items()},
                    "cues": reading.cues.to_dict(),
                    # 512 characters instead of ~2.3 KB of floats; for this turn only (not stored).
                    VECTOR_KEY: compact_vector.pack(vector),
                },
                add_to_output=True,
            )

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        # The NLU examples need no emotion to train the intent classifier; skip the work.
        return training_data


def _unreadable_language(message: Message) -> str | None:
    """The language code of a message the language detector found the models cannot read."""
    reading = message.get(LANGUAGE_KEY)
    if isinstance(reading, dict) and reading.get("supported") is False:
        return str(reading.get("code") or "und")
    return None


def _consented(message: Message) -> bool:
    metadata = message.get("metadata")
    gate = metadata.get(CONSENT_KEY) if isinstance(metadata, dict) else None
    return not isinstance(gate, dict) or gate.get("emotion_processing") == "on"
