"""The run-time policy ships in policy/: each service's default path names a file there that loads."""

from pathlib import Path

import yaml

from actions.callback_hours import load_hours
from actions.settings import ActionServerSettings
from bot.empathy.policy import EmpathyPolicy
from handoff.core import access

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "policy"


def test_the_action_servers_defaults_are_the_shipped_policy_files() -> None:
    settings = ActionServerSettings.from_env({})
    empathy = ROOT / settings.empathy_policy_file
    hours = ROOT / settings.callback_hours_file

    assert (empathy.parent, hours.parent) == (POLICY, POLICY)
    EmpathyPolicy.from_mapping(yaml.safe_load(empathy.read_text(encoding="utf-8")), source=str(empathy))
    assert any(load_hours(hours).business)


def test_the_handoff_services_default_access_policy_is_the_shipped_file() -> None:
    assert access.DEFAULT_FILE == POLICY / "access.yml"
    assert access.load().grants("admin")


def test_policy_holds_no_training_data() -> None:
    training_keys = {"nlu", "responses", "stories", "rules", "emotions"}
    for path in POLICY.glob("*.yml"):
        assert not training_keys & set(yaml.safe_load(path.read_text(encoding="utf-8"))), path
