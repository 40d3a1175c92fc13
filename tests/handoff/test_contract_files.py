"""The published schema file and example must match the contract in code."""

import json

from handoff.shared.payload_contract import SCHEMA, validate_payload
from handoff.shared.schema_file import EXAMPLE_FILE, SCHEMA_FILE, render


def test_the_published_schema_is_the_one_in_code() -> None:
    assert SCHEMA_FILE.read_text() == render(SCHEMA), "run `python -m handoff schema` and commit the file"


def test_the_published_example_follows_the_contract() -> None:
    example = json.loads(EXAMPLE_FILE.read_text())

    assert validate_payload(example)["schema_version"] == "1"
    assert example["failed_attempts"] and example["trajectory"] and example["recommended_approach"]
