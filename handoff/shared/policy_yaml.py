"""Reads one YAML file of the run-time policy folder, with errors that name the file.

The service's policy loaders (access, workspace, drift, CSAT, experiments) each raise their own
error type, so a start-up failure or a page says which file and what is wrong with it; the reading
is the same for all of them.
"""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def read_document(file: Path, error: type[Exception], what: str | None = None) -> object:
    """The parsed YAML of ``file``; ``error``, naming the file (or ``what``), if unreadable or not YAML."""
    import yaml  # only when a policy is read, not when the service's modules are imported

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as failure:
        raise error(f"{what or file}: cannot read {file}: {failure.strerror}") from failure
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as failure:
        raise error(f"{file}: not valid YAML: {failure}") from failure


def exact_keys(
    document: object, keys: Sequence[str], source: str, error: type[Exception]
) -> Mapping[str, Any]:
    """``document`` as a mapping with exactly ``keys``; ``error`` naming the first key out of place."""
    if not isinstance(document, Mapping):
        raise error(f"{source}: must be a mapping with the keys {', '.join(keys)}")
    unknown = sorted(str(key) for key in document if key not in keys)
    if unknown:
        raise error(f"{source}: unknown key {unknown[0]!r} (expected: {', '.join(keys)})")
    missing = [key for key in keys if key not in document]
    if missing:
        raise error(f"{source}: {missing[0]!r} is missing")
    return document
