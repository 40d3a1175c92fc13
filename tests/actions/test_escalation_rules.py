"""What the dialogue data makes the bot do when a customer asks for a person.

EscalationPolicy runs ``action_handoff`` on the empathy engine's decision.  When there is no decision
(action_track_empathy failed or could not run), the rules and stories answer ``request_human`` on
their own: they too must hand off, never claim that no person can be reached.
"""

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
HANDOFF = "action_handoff"


def steps_after_request_human(path: Path, section: str) -> list[tuple[str, Any]]:
    """(block name, the step right after each ``intent: request_human``) in a rules or stories file."""
    found = []
    for block in yaml.safe_load(path.read_text(encoding="utf-8")).get(section) or []:
        steps = block.get("steps") or []
        for index, step in enumerate(steps):
            if step.get("intent") == "request_human":
                following = [s for s in steps[index + 1 :] if "slot_was_set" not in s]
                found.append((block.get(section[:-1]), following[0] if following else None))
    return found


def test_a_request_for_a_person_is_handed_off_by_every_rule_and_story() -> None:
    answers = [
        *steps_after_request_human(ROOT / "data" / "rules" / "rules.yml", "rules"),
        *steps_after_request_human(ROOT / "data" / "stories" / "stories.yml", "stories"),
    ]

    assert answers  # the rules do answer it
    assert [(name, step) for name, step in answers if step != {"action": HANDOFF}] == []


def test_no_response_says_that_nobody_can_be_reached() -> None:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    texts = [v.get("text", "") for variants in domain["responses"].values() for v in variants]

    assert "utter_human_not_connected" not in domain["responses"]
    assert not [t for t in texts if "aren't connected to this assistant" in t]


def test_no_reply_says_that_chats_cannot_be_passed_to_a_person() -> None:
    """Issue 16: "I can't transfer chats to a person yet" was stale; the bot hands off."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    texts = [str(v.get("text", "")) for variants in domain["responses"].values() for v in variants]

    assert not [t for t in texts if "transfer chats to a person" in t or "can't transfer" in t]
    assert "not a person" in domain["responses"]["utter_iamabot"][0]["text"]
