"""The NLU regexes of data/**/*.yml run on every message, on the Rasa server's event loop
(RegexFeaturizer, RegexEntityExtractor): each must take time linear in the message's length.

A repetition without an upper bound (``+``, ``*``, ``{2,}``) next to a class that overlaps what
follows can backtrack: the fuzzing of issue 12 found the e-mail pattern taking 10 s on 40 000
characters of "a.a.a…" and minutes on 200 000, while every other customer waited.  Bounded
repetitions (an e-mail's local part is at most 64 characters, its domain 253, a label 63) keep it
linear.  This checks the patterns' shape, which does not depend on the machine's speed.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLASS = re.compile(r"\[(?:\\.|[^\]\\])*\]")  # a character class, where + and * are literals
ESCAPE = re.compile(r"\\.")
UNBOUNDED = re.compile(r"[*+]|\{\d*,\}")


def nlu_regexes() -> list[tuple[str, str]]:
    found = []
    for path in sorted((ROOT / "data").rglob("*.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        for item in document.get("nlu") or []:
            if isinstance(item, dict) and "regex" in item:
                for line in str(item.get("examples", "")).splitlines():
                    if line.strip().startswith("- "):
                        found.append((f"{path.name}: {item['regex']}", line.strip()[2:]))
    return found


def unbounded(pattern: str) -> bool:
    return bool(UNBOUNDED.search(CLASS.sub("", ESCAPE.sub("", pattern))))


def test_the_shape_check_tells_bounded_from_unbounded() -> None:
    assert unbounded(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
    assert unbounded(r"\d*")
    assert not unbounded(r"\b[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}\b")
    assert not unbounded(r"(?<![\d+]\s)(?<![\d+])\b\d{5}\b(?!\s?\d)")
    assert not unbounded(r"\+44\d{10}")


def test_there_are_regexes_to_check() -> None:
    assert {name.split(": ")[1] for name, _ in nlu_regexes()} >= {"order_id", "email"}


@pytest.mark.parametrize(("name", "pattern"), nlu_regexes())
def test_every_nlu_regex_repeats_a_bounded_number_of_times(name: str, pattern: str) -> None:
    assert not unbounded(pattern), f"{name}: {pattern} has a repetition without an upper bound"
