"""bot/constants.py and domain.yml must name the same intents, entities and slots."""

import re
from pathlib import Path

import yaml

from bot import constants as c

ROOT = Path(__file__).resolve().parents[1]


def domain() -> dict:
    return yaml.safe_load((ROOT / "domain.yml").read_text())


def constant_values(prefix: str) -> set[str]:
    return {v for k, v in vars(c).items() if k.startswith(prefix) and isinstance(v, str)}


def test_intents_in_code_and_domain_agree() -> None:
    intents = {k: v for k, v in vars(c).items() if k.isupper() and isinstance(v, str)}
    non_intents = ("ENTITY_", "SLOT_", "PROBLEM_", "PARSE_", "FORM_", "DECLINED")
    in_code = {v for k, v in intents.items() if not k.startswith(non_intents)}

    assert in_code == set(domain()["intents"])


def test_entities_and_slots_in_code_exist_in_the_domain() -> None:
    assert constant_values("ENTITY_") == set(domain()["entities"])
    assert constant_values("SLOT_") - {"requested_slot"} <= set(domain()["slots"])


def test_every_response_an_action_can_send_is_in_the_domain() -> None:
    responses = set(domain()["responses"])
    # The action server and the handoff service (which speaks to customers through Rasa's API).
    files = [*(ROOT / "actions").rglob("*.py"), *(ROOT / "handoff").rglob("*.py")]
    sources = "\n".join(p.read_text() for p in files)
    # "utter_action" is the key Rasa puts in a bot event's metadata, not a response.
    used = set(re.findall(r"[\"'](utter_[a-z_]+)[\"']", sources)) - {"utter_action"}

    assert used
    assert used <= responses
