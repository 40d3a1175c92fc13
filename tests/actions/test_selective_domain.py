"""The domain is posted only to actions that read it (endpoints.yml enable_selective_domain, issue 18).

Rasa 3.6 then sends it to the validate_ actions and to those domain.yml marks ``send_domain: true``.
An action that reads its ``domain`` argument without that mark would get ``{}`` and quietly answer
wrong, so every action class here that reads ``domain`` must be one Rasa posts it to.
"""

import ast
from pathlib import Path

import yaml
from rasa.shared.core.domain import Domain

ROOT = Path(__file__).resolve().parents[2]


def _action_name(node: ast.ClassDef) -> str | None:
    """The string a class's ``name()`` returns, if it is a literal."""
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "name":
            for statement in ast.walk(item):
                if isinstance(statement, ast.Return) and isinstance(statement.value, ast.Constant):
                    return str(statement.value.value)
    return None


def _reads_domain(node: ast.ClassDef) -> bool:
    return any(
        isinstance(found, ast.Name) and found.id == "domain" and isinstance(found.ctx, ast.Load)
        for found in ast.walk(node)
    )


def actions_reading_the_domain(source: str) -> set[str]:
    tree = ast.parse(source)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and _reads_domain(node):
            name = _action_name(node)
            if name is not None:
                names.add(name)
    return names


def test_the_reader_finds_an_action_that_reads_its_domain() -> None:
    source = """
class Reads:
    def name(self):
        return "action_reads"
    async def run(self, dispatcher, tracker, domain):
        return domain.get("responses")
class Ignores:
    def name(self):
        return "action_ignores"
    async def run(self, dispatcher, tracker, domain):
        return []
"""
    assert actions_reading_the_domain(source) == {"action_reads"}


# Actions that only hand their ``domain`` on to another action's ``run``, with the one they hand it to:
# fine as long as that one reads none (checked below).
PASSES_ON = {"action_offer_human": "action_lookup"}


def test_every_action_that_reads_the_domain_is_sent_it() -> None:
    domain = Domain.load(str(ROOT / "domain.yml"))
    endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    readers = set().union(
        *(actions_reading_the_domain(path.read_text()) for path in (ROOT / "actions").rglob("*.py"))
    )

    assert endpoints["action_endpoint"]["enable_selective_domain"] is True
    assert "action_answer_other_language" in readers  # the reader still sees the one we know of
    assert not readers & set(PASSES_ON.values())
    unsent = readers - set(PASSES_ON)
    assert sorted(n for n in unsent if not domain.does_custom_action_explicitly_need_domain(n)) == []
