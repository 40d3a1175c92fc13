"""data/ holds only what training reads: Rasa's NLU, stories and rules, the EmotionClassifier's examples
and the labelled turns the frustration weights are fitted on (data/frustration/).

Rasa walks data/ recursively and keeps a YAML file only when it has a top-level training key
(``nlu:``, ``responses:``, ``stories:``, ``rules:``); that is what keeps the emotion examples out of
Rasa's own training data.  Run-time policy (empathy weights, business hours, access) lives in policy/.
"""

import glob
from pathlib import Path

import pytest
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.data import get_data_files, is_nlu_file

from bot.components.emotion_classifier import DATA_FILES, EmotionClassifier

ROOT = Path(__file__).resolve().parents[2]


def relative(paths: list[str]) -> set[str]:
    return {Path(p).resolve().relative_to(ROOT).as_posix() for p in paths}


def nlu_files() -> set[str]:
    return relative(get_data_files([str(ROOT / "data")], is_nlu_file))


def story_files() -> set[str]:
    return relative(get_data_files([str(ROOT / "data")], YAMLStoryReader.is_stories_file))


def emotion_files(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    # The component's glob is relative to where `rasa train` runs: the repository root.
    monkeypatch.chdir(ROOT)
    return relative(glob.glob(EmotionClassifier.get_default_config()[DATA_FILES]))


def test_rasa_reads_nlu_stories_and_rules_from_their_folders() -> None:
    assert nlu_files() == {"data/nlu/nlu.yml"}
    assert story_files() == {"data/stories/stories.yml", "data/rules/rules.yml"}


def test_the_emotion_examples_are_the_emotion_components_and_never_rasa_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emotions = emotion_files(monkeypatch)

    assert {"data/emotions/emotions.yml", "data/emotions/emotions_everyday.yml"} <= emotions
    assert not emotions & (nlu_files() | story_files())


def frustration_files() -> set[str]:
    """The labelled turns `attune fit frustration` learns the policy's weights from (issue 17)."""
    return relative([str(p) for p in (ROOT / "data" / "frustration").glob("*.yml")])


def test_the_frustration_turns_are_never_rasa_data() -> None:
    assert frustration_files()
    assert not frustration_files() & (nlu_files() | story_files())


def test_every_file_in_data_is_training_data(monkeypatch: pytest.MonkeyPatch) -> None:
    in_data = relative([str(p) for p in (ROOT / "data").rglob("*") if p.is_file()])

    assert in_data == nlu_files() | story_files() | emotion_files(monkeypatch) | frustration_files()
