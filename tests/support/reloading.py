"""For tests of files re-read when they change (actions/policy_reload.py): a clock the test moves, and an
edit saved the way an editor or the playground saves one.
"""

import os
from pathlib import Path


class Clock:
    """A monotonic clock that stands still until the test sets ``now``."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def rewrite(path: Path, old: str, new: str) -> None:
    """Replaces the first ``old`` by ``new``: a new file renamed over the old one (a new inode)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path}"
    fresh = path.with_name(f"fresh-{path.name}")
    fresh.write_text(text.replace(old, new, 1), encoding="utf-8")
    os.replace(fresh, path)
