"""`make validate`: the project validates with no warning, a real mistake is caught, and each
response the validator is told code sends really is sent by that code.
"""

import ast
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from actions import languages
from bot.components import turn_guard
from bot.components.data_validation import (
    ACTION_SERVER,
    HANDOFF_SERVICE,
    RASA_CHANNELS,
    RASA_FORMS,
    SENT_BY_CODE,
    Validation,
    validate,
)

ROOT = Path(__file__).resolve().parents[2]
RESPONSES: dict[str, Any] = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))["responses"]


@functools.cache
def string_literals(folder: Path) -> set[str]:
    """Every string constant in the Python files under ``folder`` (what the code can name)."""
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return found


@pytest.fixture(scope="module")
def project() -> Validation:
    return validate(ROOT)


def test_the_project_validates_without_a_single_warning(project: Validation) -> None:
    assert project.checks_passed
    assert project.warnings == []
    assert sorted(project.silenced) == sorted({n for names in SENT_BY_CODE.values() for n in names})
    assert project.triggered == ["EXTERNAL_csat_idle"]  # triggered by the handoff service, never read


def small_project(folder: Path, domain: dict[str, Any]) -> Path:
    """A project of one intent and one rule, with the real config.yml and ``domain``."""
    folder.mkdir(exist_ok=True)
    (folder / "config.yml").write_text((ROOT / "config.yml").read_text(encoding="utf-8"))
    (folder / "domain.yml").write_text(yaml.safe_dump({"version": "3.1", **domain}), encoding="utf-8")
    (folder / "data").mkdir()
    (folder / "data" / "nlu.yml").write_text(
        yaml.safe_dump({"version": "3.1", "nlu": [{"intent": "greet", "examples": "- hi\n- hello\n"}]})
    )
    rule = {"rule": "greet", "steps": [{"intent": "greet"}, {"action": "utter_greet"}]}
    (folder / "data" / "rules.yml").write_text(yaml.safe_dump({"version": "3.1", "rules": [rule]}))
    return folder


GREETING: dict[str, Any] = {"intents": ["greet"], "responses": {"utter_greet": [{"text": "Hello!"}]}}


def test_a_small_clean_project_has_no_warning(tmp_path: Path) -> None:
    found = validate(small_project(tmp_path, GREETING), sent_by_code={})

    assert found.ok, found.warnings


def test_a_response_nobody_sends_is_a_warning(tmp_path: Path) -> None:
    forgotten = {"utter_forgotten": [{"text": "Nobody sends me."}]}
    domain = {**GREETING, "responses": {**GREETING["responses"], **forgotten}}

    found = validate(small_project(tmp_path, domain), sent_by_code={})
    listed = validate(
        small_project(tmp_path / "listed", domain), sent_by_code={ACTION_SERVER: ("utter_forgotten",)}
    )

    assert not found.ok
    assert found.warnings == ["The utterance 'utter_forgotten' is not used in any story or rule."]
    assert listed.ok and listed.silenced == ["utter_forgotten"]


def test_a_story_naming_a_missing_response_fails_the_checks(tmp_path: Path) -> None:
    project = small_project(tmp_path, GREETING)
    rule = {"rule": "typo", "steps": [{"intent": "greet"}, {"action": "utter_greeet"}]}
    (project / "data" / "rules.yml").write_text(yaml.safe_dump({"version": "3.1", "rules": [rule]}))

    found = validate(project, sent_by_code={})

    assert not found.checks_passed
    assert found.warnings[0].startswith(
        "The action 'utter_greeet' is used in the stories, but is not a valid"
    )


@pytest.mark.parametrize("name", SENT_BY_CODE[ACTION_SERVER])
def test_each_response_listed_for_the_action_server_is_sent_by_an_action(name: str) -> None:
    translated = {
        f"{base}_{code}"
        for base in (languages.HONEST_ANSWER, languages.OFFER_PERSON)
        for code in languages.TRANSLATED
    }
    assert name in RESPONSES
    assert name in string_literals(ROOT / "actions") or name in translated


@pytest.mark.parametrize("name", SENT_BY_CODE[HANDOFF_SERVICE])
def test_each_response_listed_for_the_handoff_service_is_sent_by_it(name: str) -> None:
    assert name in RESPONSES
    assert name in string_literals(ROOT / "handoff")


@pytest.mark.parametrize("name", SENT_BY_CODE[RASA_FORMS])
def test_each_response_listed_for_rasas_forms_asks_for_a_required_slot(name: str) -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    required = {slot for form in domain["forms"].values() for slot in form["required_slots"]}

    assert name in RESPONSES
    assert name.removeprefix("utter_ask_") in required


def test_the_channels_response_is_the_apology_they_send() -> None:
    assert SENT_BY_CODE[RASA_CHANNELS] == ("utter_message_not_processed",)
    assert RESPONSES["utter_message_not_processed"] == [{"text": turn_guard.NOT_PROCESSED_TEXT}]
