"""policy/workspace.yml: the shipped file loads, and every mistake names its key."""

from pathlib import Path
from typing import Any

import pytest

from handoff.core.settings import ConfigError
from handoff.workspace import policy

GOOD: dict[str, Any] = {
    "dispositions": [{"code": "solved", "label": "Solved"}],
    "read_others_notes": ["agent"],
    "reassign": ["supervisor"],
    "edit_canned_responses": ["admin"],
    "manage_team": [],
}


def test_the_shipped_policy_loads_with_reason_codes_and_supervisors_editing() -> None:
    shipped = policy.load()

    assert [d.code for d in shipped.dispositions][:2] == ["solved", "order_located"]
    assert shipped.allows("supervisor", policy.EDIT_CANNED) and not shipped.allows(
        "agent", policy.EDIT_CANNED
    )
    assert shipped.disposition("solved") is not None and shipped.disposition("<script>") is None


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"dispositions": []}, "'dispositions'"),
        ({"dispositions": [{"code": "Bad Code", "label": "x"}]}, ".code"),
        ({"dispositions": [{"code": "a", "label": ""}]}, ".label"),
        ({"dispositions": [{"code": "a", "label": "x"}, {"code": "a", "label": "y"}]}, "listed twice"),
        ({"dispositions": [{"code": "a"}]}, "exactly code and label"),
        ({"reassign": ["root"]}, "'root'"),
        ({"reassign": "admin"}, "'reassign'"),
        ({"surprise": 1}, "'surprise'"),
    ],
)
def test_a_mistake_is_refused_naming_the_key(change: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.").replace("(", r"\(")):
        policy.parse({**GOOD, **change}, "test.yml")


def test_a_missing_key_or_file_is_refused(tmp_path: Path) -> None:
    partial = {k: v for k, v in GOOD.items() if k != "manage_team"}
    with pytest.raises(ConfigError, match="'manage_team' is missing"):
        policy.parse(partial, "test.yml")
    with pytest.raises(ConfigError, match="cannot read"):
        policy.load(tmp_path / "absent.yml")
    (tmp_path / "bad.yml").write_text("dispositions: [", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        policy.load(tmp_path / "bad.yml")
