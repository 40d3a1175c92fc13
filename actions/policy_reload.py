"""The empathy policy file, re-read when it changes: action servers pick up a saved policy without a restart.

The designer's playground (handoff/playground/) saves ``policy/empathy.yml`` by writing a new file and
renaming it over the old one.  ``PolicyFile.current()`` is asked on every customer turn; at most once
every ``check_seconds`` it compares the file's (inode, size, mtime) with what it loaded, a ``stat`` of
a few microseconds, and re-reads and re-validates the file only when they differ.  A file that no longer
validates is not taken: the last good policy stays in force and the error is logged once per change,
so a bad edit of the file by hand never stops scoring.  The first load still fails loudly (start-up).

Each process checks its own disk: with several hosts, every host needs the new file (docs/designers.md).
``FileWatch`` is that check on its own; the tone experiments' file is watched with it too
(actions/experiment_arm.py).
"""

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import yaml

from bot.empathy.policy import EmpathyPolicy

logger = logging.getLogger(__name__)

CHECK_SECONDS: Final = 1.0

Stamp = tuple[int, int, int]  # inode, size, mtime in ns


def load_policy(path: str | Path) -> tuple[EmpathyPolicy, str]:
    """The validated policy in ``path`` and a short digest of its text (its version)."""
    text = Path(path).read_text(encoding="utf-8")
    policy = EmpathyPolicy.from_mapping(yaml.safe_load(text), source=str(path))
    return policy, hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _stamp(path: Path) -> Stamp | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


class FileWatch:
    """Whether the file at ``path`` changed since the last look: at most one ``stat`` every ``check_seconds``.

    Not thread-safe on its own: its owner asks under its lock.  A file that is gone is not a change
    (the last good content stays in force); one that comes back is.
    """

    def __init__(
        self,
        path: str | Path,
        check_seconds: float = CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._check_seconds = check_seconds
        self._clock = clock
        self._stamp = _stamp(self.path)
        self._checked = clock()

    def changed(self) -> bool:
        now = self._clock()
        if now - self._checked < self._check_seconds:
            return False
        self._checked = now
        stamp = _stamp(self.path)
        if stamp is None or stamp == self._stamp:
            return False
        self._stamp = stamp  # reported once per change: a bad file is logged once, not every second
        return True


class PolicyFile:
    """The policy in ``path``, kept current (see the module's docstring)."""

    def __init__(
        self,
        path: str | Path,
        check_seconds: float = CHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._watch = FileWatch(self.path, check_seconds, clock)
        self._policy, self.version = load_policy(self.path)  # a bad file stops the first use, as before

    def current(self) -> EmpathyPolicy:
        with self._lock:
            if self._watch.changed():
                self._reload()
            return self._policy

    def _reload(self) -> None:
        try:
            policy, version = load_policy(self.path)
        except Exception as error:
            logger.error(
                "empathy policy %s not reloaded, the previous one stays in force: %s", self.path, error
            )
            return
        self._policy, previous, self.version = policy, self.version, version
        logger.info("empathy policy %s reloaded: version %s -> %s", self.path, previous, version)
