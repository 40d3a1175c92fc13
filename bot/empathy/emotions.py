"""The emotions Attune recognises, how they group, and the designer-written training data format.

``data/emotions/emotions.yml`` holds one block per emotion with one example message per ``- `` line (the
same shape as Rasa's NLU data).  This module validates the parsed YAML and names the problem
precisely, so a bot designer who mistypes a label learns which block and which label.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

ANGER: Final = "anger"
FRUSTRATION: Final = "frustration"
SADNESS: Final = "sadness"
FEAR: Final = "fear"
CONFUSION: Final = "confusion"
SURPRISE: Final = "surprise"
DISGUST: Final = "disgust"
JOY: Final = "joy"
NEUTRAL: Final = "neutral"

EMOTIONS: Final = (ANGER, FRUSTRATION, SADNESS, FEAR, CONFUSION, SURPRISE, DISGUST, JOY, NEUTRAL)

# Ekman's six basic emotions + neutral, as GoEmotions groups its labels (annoyance -> anger,
# confusion -> surprise); used to compare Attune with published numbers.
EKMAN: Final = ("anger", "disgust", "fear", "joy", "sadness", "surprise", "neutral")
TO_EKMAN: Final[Mapping[str, str]] = {
    ANGER: "anger",
    FRUSTRATION: "anger",
    DISGUST: "disgust",
    FEAR: "fear",
    JOY: "joy",
    SADNESS: "sadness",
    CONFUSION: "surprise",
    SURPRISE: "surprise",
    NEUTRAL: "neutral",
}

SUPPORTED_VERSIONS: Final = ("1",)


class EmotionDataError(ValueError):
    """``data/emotions/*.yml`` is malformed; the message says where and how to fix it."""


@dataclass(frozen=True)
class EmotionExample:
    text: str
    emotion: str


def parse_emotion_data(document: Any, source: str = "data/emotions/emotions.yml") -> list[EmotionExample]:
    """Validated examples from the parsed YAML document of an emotion data file."""
    examples: list[EmotionExample] = []
    seen: dict[str, str] = {}  # each example's normalised text -> its emotion, across blocks
    for number, block in enumerate(_blocks(document, source), 1):
        where = f"{source}: emotions block {number}"
        emotion, lines = _block(block, where)
        for text in _example_texts(lines, f"{where} ({emotion})"):
            key = " ".join(text.lower().split())
            if key in seen and seen[key] != emotion:
                raise EmotionDataError(
                    f"{where}: {text!r} is labelled both {seen[key]!r} and {emotion!r}; keep one"
                )
            seen[key] = emotion
            examples.append(EmotionExample(text, emotion))
    return examples


def _blocks(document: Any, source: str) -> list[Any]:
    """The document's list of blocks, once its shape and version are right."""
    if not isinstance(document, Mapping):
        raise EmotionDataError(f"{source}: expected a mapping with 'version' and 'emotions' at the top level")
    version = str(document.get("version", ""))
    if version not in SUPPORTED_VERSIONS:
        raise EmotionDataError(
            f"{source}: version must be one of {list(SUPPORTED_VERSIONS)}, got {version!r}"
        )
    blocks = document.get("emotions")
    if not isinstance(blocks, list) or not blocks:
        raise EmotionDataError(f"{source}: 'emotions' must be a non-empty list of blocks")
    return blocks


def _block(block: Any, where: str) -> tuple[str, str]:
    """A block's emotion and its literal block of example lines."""
    if not isinstance(block, Mapping):
        raise EmotionDataError(f"{where}: expected a mapping with 'emotion' and 'examples'")
    emotion = block.get("emotion")
    if emotion not in EMOTIONS:
        raise EmotionDataError(f"{where}: unknown emotion {emotion!r}; use one of: {', '.join(EMOTIONS)}")
    lines = block.get("examples")
    if not isinstance(lines, str):
        raise EmotionDataError(f"{where} ({emotion}): 'examples' must be a literal block ('examples: |')")
    return str(emotion), lines


def _example_texts(lines: str, where: str) -> list[str]:
    """The texts of a block's ``- example`` lines (blank lines skipped)."""
    texts = []
    for line in lines.splitlines():
        if not line.strip():
            continue
        if not line.lstrip().startswith("- "):
            raise EmotionDataError(f"{where}: every example line starts with '- ', got {line!r}")
        text = line.lstrip()[2:].strip()
        if not text:
            raise EmotionDataError(f"{where}: an example line has no text after '- '")
        texts.append(text)
    return texts


def check_coverage(examples: list[EmotionExample], sources: str) -> None:
    """All files together must teach every emotion (one file, e.g. exported feedback, may not)."""
    missing = set(EMOTIONS) - {e.emotion for e in examples}
    if missing:
        raise EmotionDataError(
            f"{sources}: no examples for {', '.join(sorted(missing))}; every emotion needs some"
        )
