"""The experiment report in Debian's chromium: a supervisor goes from the console's nav to the experiments,
opens one, reads its verdict and the primary metric's 95% interval; an agent is refused with a page.

The handoff service runs for real on loopback with an experiments file of its own; its analytics tables
hold the experiment of tests/support/experiment_data.py (known answers), ingested as the consumer
ingests broker events.  Both pages are checked with axe at a phone's, a tablet's and a desktop's width.
"""

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import experiment_data
from tests.support.axe import add_axe, blocking, violations
from tests.support.browser import DESKTOP, TIMEOUT_MS, chromium_path, screenshot_path
from tests.support.console import log_in_page
from tests.support.handoff_server import console_on_loopback

pytestmark = pytest.mark.integration

WIDTHS = (390, 768, 1280)
OVERFLOW = "document.scrollingElement.scrollWidth - window.innerWidth"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    experiments = tmp_path / "experiments.yml"
    experiments.write_text(experiment_data.EXPERIMENTS_YAML, encoding="utf-8")
    with console_on_loopback(tmp_path, experiment_data.load, experiments_file=str(experiments)) as url:
        yield url


async def _fits_and_passes_axe(page: Any, name: str) -> dict[str, Any]:
    """Sideways overflow (px) and axe's blocking violations at each width; a screenshot of each."""
    overflow, found = {}, []
    for width in WIDTHS:
        size = {"width": width, "height": DESKTOP["height"]}
        await page.set_viewport_size(size)
        overflow[width] = await page.evaluate(OVERFLOW)
        found += blocking(await violations(page))
        await page.screenshot(path=str(screenshot_path(f"experiment-{name}", size)), full_page=True)
    await page.set_viewport_size(DESKTOP)
    return {"overflow": overflow, "violations": found}


async def _supervisor_reads_the_report(url: str) -> dict[str, Any]:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=TIMEOUT_MS)
    found: dict[str, Any] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            context = await browser.new_context(viewport=DESKTOP)
            await add_axe(context)
            page = await context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            await log_in_page(page, url, "supervisor")
            await page.click("a.nav:has-text('Experiments')")
            await expect(page).to_have_url(re.compile("/console/experiments$"))
            row = page.locator('.experiment-card[data-experiment="tone-page"]')
            found["list_status"] = await row.locator("dd.status").inner_text()
            found["list"] = await _fits_and_passes_axe(page, "list")

            await row.locator("h2 a").click()
            await expect(page).to_have_url(re.compile("/console/experiments/tone-page$"))
            verdict = page.locator('.verdict[data-arm="adaptive"]')
            found["status"] = await verdict.get_attribute("data-status")
            found["verdict"] = await verdict.locator(".verdict-text").inner_text()
            primary = page.locator('table.effects tr[data-metric="self_service_success"]')
            found["ci"] = await primary.locator("td.ci").inner_text()
            found["srm"] = await page.locator("#srm-result").get_attribute("data-mismatch")
            found["report"] = await _fits_and_passes_axe(page, "report")

            agent = await (await browser.new_context(viewport=DESKTOP)).new_page()
            await log_in_page(agent, url, "agent")
            found["agent_nav"] = await agent.locator("a.nav:has-text('Experiments')").count()
            refused = await agent.goto(f"{url}/console/experiments/tone-page")
            found["agent_status"] = refused.status if refused else None
            found["agent_reason"] = await agent.locator("#error-detail").inner_text()
        finally:
            await browser.close()
    return found


def test_a_supervisor_reads_the_verdict_and_an_interval_and_an_agent_is_refused(service: str) -> None:
    found = asyncio.run(_supervisor_reads_the_report(service))

    estimate, low, high = experiment_data.expected_interval()
    assert found["list_status"] == "running"
    assert found["status"] == "significant"
    assert (
        f"{estimate * 100:+.1f} points (95% CI {low * 100:+.1f} points to {high * 100:+.1f} points)"
        in (found["verdict"])
    )
    assert "better" in found["verdict"]
    assert found["ci"] == f"[{low:+.4g}, {high:+.4g}]"
    assert found["srm"] == "false"
    for page in ("list", "report"):
        assert found[page]["violations"] == [], page
        assert not any(found[page]["overflow"].values()), (page, found[page]["overflow"])
    assert found["agent_nav"] == 0
    assert found["agent_status"] == 403
    assert "does not use this part of the console" in found["agent_reason"]
