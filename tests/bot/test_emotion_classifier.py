from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.components.emotion_classifier import EmotionClassifier, EmotionDataInvalid
from bot.empathy import compact_vector
from bot.empathy.emotions import EMOTIONS

EXAMPLES = {
    "anger": ["you people are useless", "this is a disgrace", "I am furious with you"],
    "frustration": ["still not working", "third time I'm asking", "why is this so hard"],
    "sadness": ["I'm so disappointed", "that was a gift for my late mum", "I feel let down"],
    "fear": ["I'm scared someone has my card", "I'm panicking", "I'm worried sick"],
    "confusion": ["I don't get this charge", "wait, what do you mean?", "which one?"],
    "surprise": ["oh wow, already?", "no way, really?", "huh, I didn't know that"],
    "disgust": ["the food arrived mouldy, gross", "that is vile", "disgusting"],
    "joy": ["thanks so much!", "perfect, sorted", "love it"],
    "neutral": ["where is order 10003", "my email is ben@example.com", "ok"],
}


def write_data(path: Path, examples: dict[str, list[str]]) -> Path:
    blocks = "".join(
        f"  - emotion: {emotion}\n    examples: |\n" + "".join(f"      - {t}\n" for t in texts)
        for emotion, texts in examples.items()
    )
    path.write_text(f'version: "1"\nemotions:\n{blocks}')
    return path


def component(tmp_path: Path, data_files: str) -> tuple[EmotionClassifier, LocalModelStorage, Resource]:
    (tmp_path / "storage").mkdir(exist_ok=True)
    storage = LocalModelStorage(tmp_path / "storage")
    resource = Resource("emotion")
    config = {**EmotionClassifier.get_default_config(), "data_files": data_files}
    context = ExecutionContext(node_name="emotion", graph_schema=None)  # type: ignore[arg-type]
    return EmotionClassifier.create(config, storage, resource, context), storage, resource


def test_trained_component_adds_emotion_to_the_parse_data_and_reloads(tmp_path: Path) -> None:
    data = write_data(tmp_path / "emotions.yml", EXAMPLES)
    classifier, storage, resource = component(tmp_path, str(data))
    classifier.train(TrainingData())
    context = ExecutionContext(node_name="emotion", graph_schema=None)  # type: ignore[arg-type]
    config = {**EmotionClassifier.get_default_config(), "data_files": str(data)}
    reloaded = EmotionClassifier.load(config, storage, resource, context)

    messages = [Message({TEXT: "THANK YOU so much, love it!"}), Message({TEXT: ""}), Message({TEXT: "🙃"})]
    reloaded.process(messages)

    for message in messages:
        emotion = message.get("emotion")
        assert set(emotion["probabilities"]) == set(EMOTIONS)
        assert sum(emotion["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
        # The embedding, packed for this turn only (issue 18: never a list of floats in parse data).
        assert "embedding" not in emotion
        assert len(compact_vector.unpack(emotion["vector"]) or []) == 384
    assert messages[0].get("emotion")["top"] == "joy"
    assert messages[0].get("emotion")["cues"]["caps_ratio"] > 0
    assert "emotion" in messages[0].output_properties  # reaches the tracker's parse data


def test_bad_emotion_data_fails_training_with_the_file_and_label(tmp_path: Path) -> None:
    data = write_data(tmp_path / "emotions.yml", {**EXAMPLES, "grumpy": ["meh"]})
    classifier, _, _ = component(tmp_path, str(data))

    with pytest.raises(EmotionDataInvalid, match=r"emotions\.yml.*'grumpy'"):
        classifier.train(TrainingData())


def test_no_matching_data_file_is_a_clear_error(tmp_path: Path) -> None:
    classifier, _, _ = component(tmp_path, str(tmp_path / "nothing*.yml"))

    with pytest.raises(EmotionDataInvalid, match="no emotion data files match"):
        classifier.train(TrainingData())


def test_editing_the_data_changes_the_fingerprint_so_rasa_retrains(tmp_path: Path) -> None:
    data = write_data(tmp_path / "emotions.yml", EXAMPLES)
    config = {"data_files": str(data)}
    before = EmotionClassifier.fingerprint_addon(config)

    write_data(data, {**EXAMPLES, "joy": [*EXAMPLES["joy"], "brilliant, cheers"]})

    assert EmotionClassifier.fingerprint_addon(config) != before


def test_an_untrained_component_marks_messages_instead_of_failing(tmp_path: Path) -> None:
    classifier, _, _ = component(tmp_path, "data/emotions/*.yml")
    message = Message({TEXT: "hello"})

    classifier.process([message])

    assert "error" in message.get("emotion")
