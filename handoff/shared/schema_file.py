"""Where the published JSON Schema of the handoff payload lives, and how it and the OpenAPI
description are written (``python -m handoff schema``).
"""

import json
from pathlib import Path
from typing import Any

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
SCHEMA_FILE = SCHEMA_DIR / "handoff-payload.v1.json"
EXAMPLE_FILE = SCHEMA_DIR / "handoff-payload.v1.example.json"


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
