"""Browser tests' shared parts: Debian's chromium for Playwright, and where screenshots go.

Screenshots are test artifacts (CI keeps ``var/artifacts/``; ``var/`` is not in git).
"""

import os
import shutil
from pathlib import Path

import pytest

from tests.support.stack import ROOT

CHROMIUM = os.environ.get("ATTUNE_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "artifacts" / "screenshots"
TIMEOUT_MS = 30_000  # the first replies after start-up warm the models up
# The sizes the web chat and the console are checked at: a phone and a desktop window.
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def chromium_path() -> str:
    """Debian's chromium; the test is skipped without it (failed in CI, which installs it)."""
    if Path(CHROMIUM).is_file():
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    reason = "Debian's chromium is not installed (make test installs it: apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def screenshot_path(name: str, size: dict[str, int]) -> Path:
    """``var/artifacts/screenshots/<name>-<width>x<height>.png`` (the folder is made), printed."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}-{size['width']}x{size['height']}.png"
    print(f"screenshot: {path}")
    return path
