"""The supervisor dashboard in Debian's chromium: a supervisor picks a period and a channel, reads the
figures, charts and definitions, and downloads a CSV; an agent is refused with a page.

The handoff service runs for real on loopback; its analytics tables hold the small fixture of
tests/handoff/dashboard/conftest.py (known answers), ingested as the consumer ingests broker events.
"""

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.handoff.dashboard.conftest import DAY, HOSTILE_STATUS, fixture_events, load
from tests.support.axe import add_axe, blocking, violations
from tests.support.browser import DESKTOP, PHONE, TIMEOUT_MS, chromium_path, screenshot_path
from tests.support.console import log_in_page
from tests.support.handoff_server import console_on_loopback

pytestmark = pytest.mark.integration


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[str]:
    with console_on_loopback(tmp_path, lambda engine: load(engine, fixture_events())) as url:
        yield url


async def _supervisor_reads_the_dashboard(url: str, downloads: Path) -> dict[str, object]:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=TIMEOUT_MS)
    found: dict[str, object] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            context = await browser.new_context(viewport=DESKTOP, accept_downloads=True)
            await add_axe(context)
            page = await context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            await log_in_page(page, url, "supervisor")
            await page.click("a.nav:has-text('Dashboard')")
            await expect(page).to_have_url(re.compile("/console/dashboard"))
            await page.fill("#period-from", DAY.isoformat())
            await page.fill("#period-to", DAY.isoformat())
            await page.click("#dashboard-period button[type=submit]")
            await expect(page.locator('[data-metric="conversations"]')).to_have_text("4")
            await expect(page.locator('[data-metric="containment"]')).to_have_text("25.0%")
            await expect(page.locator("#chart-csat")).to_be_visible()
            found["definitions"] = await page.locator(".definition").count()
            found["violations"] = blocking(await violations(page))
            await page.screenshot(path=str(screenshot_path("dashboard", DESKTOP)), full_page=True)

            async with page.expect_download() as download_info:
                await page.click("#metric-callbacks a.csv")
            download = await download_info.value
            target = downloads / "callbacks.csv"
            await download.save_as(str(target))
            found["csv"] = target.read_text(encoding="utf-8")

            await page.select_option("#period-channel", "sms")
            await page.click("#dashboard-period button[type=submit]")
            await expect(page.locator('[data-metric="conversations"]')).to_have_text("1")
            await page.set_viewport_size(PHONE)
            found["overflow"] = await page.evaluate(
                "document.scrollingElement.scrollWidth - window.innerWidth"
            )
            await page.screenshot(path=str(screenshot_path("dashboard", PHONE)), full_page=True)

            agent = await (await browser.new_context(viewport=DESKTOP)).new_page()
            await log_in_page(agent, url, "agent")
            refused = await agent.goto(f"{url}/console/dashboard")
            found["agent_status"] = refused.status if refused else None
            found["agent_nav"] = await agent.locator("a.nav:has-text('Dashboard')").count()
        finally:
            await browser.close()
    return found


def test_a_supervisor_reads_the_dashboard_and_an_agent_is_refused(dashboard: str, tmp_path: Path) -> None:
    found = asyncio.run(_supervisor_reads_the_dashboard(dashboard, tmp_path))

    assert found["definitions"] == 9
    assert found["violations"] == []
    assert "'" + HOSTILE_STATUS.replace('"', '""') in str(found["csv"])
    assert found["overflow"] == 0
    assert found["agent_status"] == 403
