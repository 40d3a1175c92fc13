"""The sample sets the playground re-scores live: the project's conversation tests, and the dev files.

- ``tests/test_*conversations.yml`` (Rasa's conversation tests): the customer turns of each story, the
  entity markup taken out, and the failed self-service attempts the story's ``slot_was_set`` steps
  record before each turn.  They carry no frustration labels: the page shows what a draft changes
  (scores over the threshold, tones, offers), not whether it is right.
- ``../shared/data/frustration_dialogues_twcs.dev.jsonl`` when present: real support threads rated 0-4
  for frustration (positive at >= 3, ../shared/data/README.md).  Only the TWCS file is read here: the
  USS file's 11 000 turns would take minutes to parse over HTTP (``make eval`` measures both).  A bot
  reply that reads as a failure counts as a failed attempt, as the eval does (bot/empathy/transcripts.py).

Nothing here is fitted on the dev file: the page only shows how a draft would move AUC and F1.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

from bot.empathy.transcripts import bot_reply_failed

CONVERSATION_TESTS: Final = "tests/test_*conversations.yml"
DEV_FILE: Final = "frustration_dialogues_twcs.dev.jsonl"
MAX_TEXT_CHARS: Final = 1000
# "[55555](order_id)" and '[10002]{"entity": "order_id"}': Rasa's entity markup, the words kept.
_MARKUP: Final = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


@dataclass(frozen=True)
class Sample:
    name: str
    texts: tuple[str, ...]
    failures: tuple[int, ...]  # failed self-service attempts before each turn
    labels: tuple[bool | None, ...] = ()  # frustrated or not (dev file); () for the tests


def plain_text(text: str) -> str:
    return _MARKUP.sub(r"\1", text).strip()[:MAX_TEXT_CHARS]


def _story_turns(steps: Any) -> tuple[list[str], list[int]]:
    texts: list[str] = []
    failures: list[int] = []
    failed = 0
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        if isinstance(step.get("user"), str) and plain_text(step["user"]):
            texts.append(plain_text(step["user"]))
            failures.append(failed)
        for slot in step.get("slot_was_set") or []:
            if isinstance(slot, dict) and isinstance(slot.get("failed_attempts"), (int, float)):
                failed = int(slot["failed_attempts"])
    return texts, failures


def conversation_tests(root: Path) -> list[Sample]:
    """Every story of the conversation tests under ``root`` that has a customer turn."""
    samples = []
    for path in sorted(root.glob(CONVERSATION_TESTS)):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for story in document.get("stories") or []:
            if not isinstance(story, dict):
                continue
            texts, failures = _story_turns(story.get("steps"))
            if texts:
                samples.append(Sample(f"{path.name}: {story.get('story')}", tuple(texts), tuple(failures)))
    return samples


def _label(turn: dict[str, Any]) -> bool | None:
    rating = turn.get("frustration")
    return bool(rating >= 3) if isinstance(rating, (int, float)) and not isinstance(rating, bool) else None


def dev_dialogues(path: Path) -> list[Sample]:
    """The rated dialogues of the TWCS dev file: customer turns, failures before each, labels."""
    samples = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            record = json.loads(line)
            texts, failures, labels = [], [], []
            failed = 0
            for turn in record.get("turns") or []:
                text = str(turn.get("text") or "")
                if turn.get("speaker") == "bot":
                    failed = failed + 1 if bot_reply_failed(text) else 0
                elif turn.get("speaker") == "user" and text.strip():
                    texts.append(text.strip()[:MAX_TEXT_CHARS])
                    failures.append(failed)
                    labels.append(_label(turn))
            if texts:
                samples.append(
                    Sample(str(record.get("id", number)), tuple(texts), tuple(failures), tuple(labels))
                )
    return samples
