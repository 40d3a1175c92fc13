"""The designer's playground in Debian's chromium: a designer types a message, changes a weight and sees
the score move, saves, and the action server's policy source picks the new weight up without a restart.

The handoff service runs for real on loopback with a copy of policy/empathy.yml; the messages are read by
a local server speaking Rasa's /model/parse (tests/support/fake_rasa.py), so no trained model is needed.
"""

import asyncio
import dataclasses
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from actions.policy_reload import PolicyFile
from handoff.app import create_app
from handoff.core.settings import Settings
from tests.support.browser import DESKTOP, PHONE, TIMEOUT_MS, chromium_path, screenshot_path
from tests.support.console import PASSWORD
from tests.support.fake_rasa import FakeRasa
from tests.support.handoff_server import ServerThread
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WEIGHT = "frustration.weights.negative_emotion"


@dataclasses.dataclass
class Running:
    url: str
    policy_file: Path


@pytest.fixture
def playground(tmp_path: Path) -> Iterator[Running]:
    policy_file = tmp_path / "empathy.yml"
    shutil.copy(ROOT / "policy" / "empathy.yml", policy_file)
    rasa = ServerThread(FakeRasa().app(), free_port())
    rasa.start()
    rasa.ready.wait(30)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'handoff.db'}",
        log_format="text",
        session_key="test-session-key-0123456789abcdef",
        rasa_url=f"http://127.0.0.1:{rasa.port}",
        rasa_token="rasa-token",
        demo_password=PASSWORD,
        empathy_policy_file=str(policy_file),
    )
    service = ServerThread(create_app(settings), free_port())
    service.start()
    service.ready.wait(60)
    assert service.error is None and rasa.error is None
    try:
        yield Running(f"http://127.0.0.1:{service.port}", policy_file)
    finally:
        service.stop()
        rasa.stop()


async def _designer_changes_a_weight_and_saves(running: Running) -> tuple[str, str]:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport=DESKTOP)
            page.set_default_timeout(TIMEOUT_MS)
            await page.goto(f"{running.url}/console/login")
            await page.fill("input[name=username]", "designer")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit]")
            await expect(page).to_have_url(re.compile("/console/playground$"))

            await page.fill("#turn-text", "this is useless!! where is my order")
            await page.click("#add-turn")
            score = page.locator("#turns li .frustration").first
            await expect(score).to_have_text(re.compile(r"^frustration \d\.\d{3}"))
            before = await score.text_content() or ""

            await page.fill(f'input[name="{WEIGHT}"]', "0.95")
            await expect(score).not_to_have_text(before)
            after = await score.text_content() or ""
            await expect(page.locator("#draft-state")).to_have_text("1 change(s), not saved.")
            await page.screenshot(path=str(screenshot_path("playground", DESKTOP)), full_page=True)

            await page.click("#save-policy")
            await expect(page.locator("#save-status")).to_have_text(
                re.compile("^Saved: version [0-9a-f]{12}")
            )
            await expect(page.locator("#draft-state")).to_have_text("No changes.")
            await page.set_viewport_size(PHONE)
            await page.screenshot(path=str(screenshot_path("playground", PHONE)), full_page=True)
            return before, after
        finally:
            await browser.close()


def test_a_designer_changes_a_weight_sees_the_score_move_and_saves(playground: Running) -> None:
    reloading = PolicyFile(playground.policy_file, check_seconds=0.0)
    assert reloading.current().frustration_weights["negative_emotion"] == 0.6

    before, after = asyncio.run(_designer_changes_a_weight_and_saves(playground))

    assert float(after.split()[1]) > float(before.split()[1])
    assert "    negative_emotion: 0.95      # anger" in playground.policy_file.read_text()
    assert reloading.current().frustration_weights["negative_emotion"] == 0.95
