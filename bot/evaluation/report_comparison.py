"""This eval run against the previous one: the previous JSON is kept beside the new one.

``attune eval ... --json OUT`` moves an existing OUT to ``OUT.previous.json`` before writing, and
the console and the HTML report show each headline metric's change.  The previous file is read
as untrusted input: anything that is not the shape ``attune eval`` writes is no comparison, never
an error (the new run is what matters).
"""

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

# The metrics compared, in the order shown; the others are counts or settings.
HEADLINE: Final = ("auc", "f1", "precision", "recall", "spearman", "macro_f1_ekman")
# The previous file is read only up to this size: a report is a few KB.
MAX_PREVIOUS_BYTES: Final = 5 * 1024 * 1024


def previous_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.previous.json")


def keep_previous(path: Path) -> list[dict[str, Any]]:
    """Moves ``path`` aside as the previous run and returns its results ([] when there is none)."""
    if not path.is_file():
        return []
    kept = previous_path(path)
    path.replace(kept)
    try:
        if kept.stat().st_size > MAX_PREVIOUS_BYTES:
            return []
        document = json.loads(kept.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    results = document if isinstance(document, list) else [document]
    return [r for r in results if isinstance(r, dict)]


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def compare(
    previous: Sequence[Mapping[str, Any]], current: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Each headline metric of each file both runs scored: before, after and the change."""
    before_by_file = {str(r.get("file")): r for r in previous}
    rows = []
    for result in current:
        before = before_by_file.get(str(result.get("file")))
        if before is None:
            continue
        for metric in HEADLINE:
            old, new = _number(before.get(metric)), _number(result.get(metric))
            if old is None or new is None:
                continue
            rows.append(
                {"file": result["file"], "metric": metric, "before": old, "after": new, "delta": new - old}
            )
    return rows


def format_deltas(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "no previous run of these files to compare with"
    lines = []
    for row in rows:
        change = f"{row['before']:.3f} -> {row['after']:.3f} ({row['delta']:+.3f})"
        lines.append(f"{Path(str(row['file'])).name}: {row['metric']} {change}")
    return "\n".join(lines)
