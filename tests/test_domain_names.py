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
    non_intents = ("ENTITY_", "SLOT_", "PROBLEM_", "PARSE_")
    in_code = {v for k, v in intents.items() if not k.startswith(non_intents)}

    assert in_code == set(domain()["intents"])


def test_entities_and_slots_in_code_exist_in_the_domain() -> None:
    assert constant_values("ENTITY_") == set(domain()["entities"])
    assert constant_values("SLOT_") - {"requested_slot"} <= set(domain()["slots"])


def test_every_response_an_action_can_send_is_in_the_domain() -> None:
    responses = set(domain()["responses"])
    sources = "\n".join(p.read_text() for p in (ROOT / "actions").rglob("*.py"))
    used = set(re.findall(r"[\"'](utter_[a-z_]+)[\"']", sources))

    assert used
    assert used <= responses
