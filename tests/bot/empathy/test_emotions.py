from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.empathy.emotions import (
    EMOTIONS,
    TO_EKMAN,
    EmotionDataError,
    EmotionExample,
    check_coverage,
    parse_emotion_data,
)

REPO_ROOT = Path(__file__).resolve().parents[3]


def valid_document() -> dict[str, Any]:
    return {
        "version": "1",
        "emotions": [
            {"emotion": emotion, "examples": f"- first {emotion} message\n- second {emotion} message\n"}
            for emotion in EMOTIONS
        ],
    }


def test_valid_document_yields_every_example_with_its_label() -> None:
    examples = parse_emotion_data(valid_document())
    assert len(examples) == 2 * len(EMOTIONS)
    assert examples[0] == EmotionExample("first anger message", "anger")
    assert {e.emotion for e in examples} == set(EMOTIONS)


def test_blank_lines_in_examples_are_skipped() -> None:
    document = valid_document()
    document["emotions"][0]["examples"] = "- one\n\n   \n- two\n"
    texts = [e.text for e in parse_emotion_data(document) if e.emotion == "anger"]
    assert texts == ["one", "two"]


def test_unknown_label_error_names_the_label_and_block() -> None:
    document = valid_document()
    document["emotions"][2]["emotion"] = "angry"
    with pytest.raises(EmotionDataError, match=r"emotions block 3: unknown emotion 'angry'"):
        parse_emotion_data(document)


def test_missing_version_is_rejected() -> None:
    document = valid_document()
    del document["version"]
    with pytest.raises(EmotionDataError, match="version"):
        parse_emotion_data(document)


def test_unsupported_version_is_rejected() -> None:
    document = valid_document()
    document["version"] = "2"
    with pytest.raises(EmotionDataError, match="got '2'"):
        parse_emotion_data(document)


def test_line_without_dash_is_rejected_and_quoted() -> None:
    document = valid_document()
    document["emotions"][0]["examples"] = "- fine line\nforgot the dash\n"
    with pytest.raises(EmotionDataError, match=r"block 1 \(anger\).*'forgot the dash'"):
        parse_emotion_data(document)


def test_same_text_with_two_labels_is_rejected() -> None:
    document = valid_document()
    document["emotions"][1]["examples"] += "- Where is my   PARCEL\n"
    document["emotions"][3]["examples"] += "- where is my parcel\n"
    with pytest.raises(EmotionDataError, match=r"block 4: .*labelled both 'frustration' and 'fear'"):
        parse_emotion_data(document)


def test_one_file_may_cover_some_emotions_but_all_files_together_must_cover_every_one() -> None:
    document = valid_document()
    document["emotions"] = [b for b in document["emotions"] if b["emotion"] != "joy"]
    examples = parse_emotion_data(document)  # e.g. exported feedback with a few corrections

    with pytest.raises(EmotionDataError, match="no examples for joy"):
        check_coverage(examples, "data/emotions/*.yml")
    check_coverage(parse_emotion_data(valid_document()), "data/emotions/*.yml")


def test_examples_must_be_a_literal_block() -> None:
    document = valid_document()
    document["emotions"][0]["examples"] = ["a list", "not a block"]
    with pytest.raises(EmotionDataError, match="literal block"):
        parse_emotion_data(document)


def test_non_mapping_document_is_rejected() -> None:
    with pytest.raises(EmotionDataError, match="mapping"):
        parse_emotion_data(["not", "a", "mapping"])


def test_source_name_appears_in_errors() -> None:
    with pytest.raises(EmotionDataError, match=r"^custom\.yml:"):
        parse_emotion_data({}, source="custom.yml")


def test_empty_example_line_is_rejected() -> None:
    document = valid_document()
    document["emotions"][0]["examples"] += "-  \n"
    with pytest.raises(EmotionDataError):
        parse_emotion_data(document)


@pytest.mark.parametrize("name", ["emotions.yml", "emotions_everyday.yml", "emotions_styles.yml"])
def test_shipped_emotion_file_parses(name: str) -> None:
    with (REPO_ROOT / "data" / "emotions" / name).open(encoding="utf-8") as handle:
        examples = parse_emotion_data(yaml.safe_load(handle), source=f"data/emotions/{name}")
    assert len(examples) > 100
    assert {e.emotion for e in examples} == set(EMOTIONS)


def test_no_example_is_repeated_across_the_shipped_emotion_files() -> None:
    # A repeated line silently counts twice in training, and a line repeated with another label
    # teaches both; parse_emotion_data sees one file at a time, so the files are checked together.
    first_seen: dict[str, str] = {}
    repeated = []
    for path in sorted((REPO_ROOT / "data" / "emotions").glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for example in parse_emotion_data(document, source=path.name):
            key = " ".join(example.text.lower().split())
            if key in first_seen:
                repeated.append(f"{example.text!r} in {path.name} (first in {first_seen[key]})")
            first_seen.setdefault(key, path.name)
    assert len(first_seen) > 1000
    assert repeated == []


def test_every_emotion_maps_to_an_ekman_label() -> None:
    assert set(TO_EKMAN) == set(EMOTIONS)
    assert TO_EKMAN["frustration"] == "anger"
    assert TO_EKMAN["confusion"] == "surprise"
