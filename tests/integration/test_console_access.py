"""Looks and access of every console and chat page in real headless Chromium (Debian's), on the whole stack.

At 390, 768 and 1280 px wide: the page never scrolls sideways, and axe-core (pinned, `make axe`) finds no
WCAG 2.1 A/AA violation of serious or critical impact (every <details> opened, so what it hides is checked
too).  The queue's summary keeps a readable width; keyboard focus starts at a skip link and stays visible.
Each page's axe counts go to var/artifacts/axe.json; screenshots to var/artifacts/screenshots/.
"""

import copy
import json
from collections import Counter
from typing import Any
from uuid import uuid4

import aiohttp
import pytest

from handoff.shared.conversation_ids import rest_conversation
from handoff.shared.schema_file import EXAMPLE_FILE
from tests.support.axe import add_axe, blocking, violations
from tests.support.browser import SCREENSHOTS, TIMEOUT_MS, chromium_path, screenshot_path
from tests.support.stack import DEMO_PASSWORD, RunningStack

pytestmark = pytest.mark.integration

WIDTHS = (390, 768, 1280)
HEIGHT = 800
# Wide enough for several words a line (the bug: one word a line, in a column squeezed to a few px).
READABLE_SUMMARY_PX = 200
LONG_SUMMARY = (
    "The customer asked twice where order 55556 is; the tracking page failed both times, and they are "
    "worried that the parcel, which contains medication, will not arrive before the weekend."
)
OVERFLOW = "document.scrollingElement.scrollWidth - window.innerWidth"
OPEN_DETAILS = "document.querySelectorAll('details').forEach((d) => { d.open = true; })"


async def _post_handoff(stack: RunningStack, key: str) -> str:
    body = copy.deepcopy(json.loads(EXAMPLE_FILE.read_text()))
    body.update(idempotency_key=key, conversation_id=rest_conversation(key), summary=LONG_SUMMARY)
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{stack.handoff_url}/api/v1/handoffs",
            json=body,
            headers={"Authorization": f"Bearer {stack.handoff_token}"},
        ) as response,
    ):
        assert response.status == 201, await response.text()
        return str((await response.json())["id"])


async def _page(browser: Any, stack: RunningStack, username: str | None) -> Any:
    context = await browser.new_context(viewport={"width": WIDTHS[-1], "height": HEIGHT})
    await add_axe(context)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    if username:
        await page.goto(f"{stack.handoff_url}/console/login")
        await page.fill("input[name=username]", username)
        await page.fill("input[name=password]", DEMO_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{stack.handoff_url}/console")
    return page


async def _check(page: Any, name: str) -> dict[str, Any]:
    """The page at every width: sideways overflow (px) and axe's violations; a screenshot of each."""
    overflow: dict[int, int] = {}
    found: list[dict[str, Any]] = []
    await page.evaluate(OPEN_DETAILS)
    for width in WIDTHS:
        size = {"width": width, "height": HEIGHT}
        await page.set_viewport_size(size)
        overflow[width] = await page.evaluate(OVERFLOW)
        found += [{**v, "width": width} for v in await violations(page)]
        await page.screenshot(path=str(screenshot_path(f"access-{name}", size)), full_page=True)
    return {"overflow": overflow, "violations": found}


async def test_every_page_fits_every_width_and_passes_axe(stack: RunningStack) -> None:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=TIMEOUT_MS)
    handoff_id = await _post_handoff(stack, f"access-pages-{uuid4().hex[:12]}")
    results: dict[str, dict[str, Any]] = {}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            visitor = await _page(browser, stack, None)
            for name, path in (("login", "/console/login"), ("chat", "/chat")):
                await visitor.goto(stack.handoff_url + path)
                results[name] = await _check(visitor, name)

            agent = await _page(browser, stack, "agent")
            await agent.goto(f"{stack.handoff_url}/console/handoffs/{handoff_id}")
            await agent.click("#claim")  # the page with every form: reply, notes, transfer, resolve
            await expect(agent.locator("#reply-text")).to_be_visible()
            agent_pages = {
                "queue": "/console",
                "handoff": f"/console/handoffs/{handoff_id}",
                "canned": "/console/canned",
                "team": "/console/team",
                "search": "/console/search?q=55556",
                "resolved": "/console/resolved",
                "history": f"/console/handoffs/{handoff_id}/history",
                "error-403": "/console/flags",  # agents do not review flags: the HTML error page
            }
            for name, path in agent_pages.items():
                await agent.goto(stack.handoff_url + path)
                if name == "error-403":
                    await expect(agent.locator("#error-title")).to_have_text("Forbidden")
                results[name] = await _check(agent, name)

            supervisor = await _page(browser, stack, "supervisor")
            for name, path in (
                ("flags", "/console/flags"),
                ("audit", "/console/audit"),
                ("canned-editor", "/console/canned"),
                ("experiments", "/console/experiments"),
                ("experiment-report", "/console/experiments/adaptive-tone-v1"),
            ):
                await supervisor.goto(stack.handoff_url + path)
                results[name] = await _check(supervisor, name)
        finally:
            await browser.close()

    report = {
        name: {
            "overflow_px": result["overflow"],
            "violations_by_impact": dict(Counter(v["impact"] for v in result["violations"])),
            "violations": result["violations"],
        }
        for name, result in results.items()
    }
    (SCREENSHOTS.parent / "axe.json").write_text(json.dumps(report, indent=2))
    for name, result in report.items():
        print(f"axe {name}: {result['violations_by_impact'] or 'none'}; overflow {result['overflow_px']}")
    assert {name: r["overflow_px"] for name, r in report.items() if any(r["overflow_px"].values())} == {}
    assert {name: blocking(r["violations"]) for name, r in report.items() if blocking(r["violations"])} == {}


async def test_the_queue_summary_stays_readable_at_every_width(stack: RunningStack) -> None:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=TIMEOUT_MS)
    handoff_id = await _post_handoff(stack, f"access-summary-{uuid4().hex[:12]}")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            agent = await _page(browser, stack, "agent")
            summary = agent.locator(f'#queue tr[data-handoff="{handoff_id}"] td.summary')
            await expect(summary).to_have_text(LONG_SUMMARY)
            widths = {}
            for width in WIDTHS:
                await agent.set_viewport_size({"width": width, "height": HEIGHT})
                box = await summary.bounding_box()
                widths[width] = box["width"] if box else 0
                assert await agent.evaluate(OVERFLOW) <= 0, width
        finally:
            await browser.close()

    assert all(w >= READABLE_SUMMARY_PX for w in widths.values()), widths


async def test_keyboard_focus_starts_at_a_skip_link_and_is_always_visible(stack: RunningStack) -> None:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            agent = await _page(browser, stack, "agent")
            await agent.keyboard.press("Tab")
            skip = agent.locator("a.skip")
            await expect(skip).to_be_focused()
            box = await skip.bounding_box()
            assert box is not None and box["x"] >= 0 and box["y"] >= 0  # moved into view when focused
            outlines = []
            for _ in range(12):  # through the header and into the page: each focus ring shows
                await agent.keyboard.press("Tab")
                outlines.append(
                    await agent.evaluate(
                        "(() => { const e = document.activeElement, s = getComputedStyle(e); return"
                        " [e.tagName, s.outlineStyle, s.outlineWidth, (e.id || e.textContent).trim()]; })()"
                    )
                )
            await agent.screenshot(
                path=str(screenshot_path("access-focus", {"width": WIDTHS[-1], "height": HEIGHT}))
            )
        finally:
            await browser.close()

    # BODY: past the last control, where focus leaves the page for the browser's own UI before wrapping.
    hidden = [o for o in outlines if o[0] != "BODY" and (o[1] == "none" or o[2] == "0px")]
    assert len([o for o in outlines if o[0] != "BODY"]) >= 6, outlines
    assert not hidden, outlines
