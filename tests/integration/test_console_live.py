"""The live console in real headless Chromium (Debian's chromium, driven by Playwright) on the whole stack.

1. A handoff posted to the API appears on an agent's open queue page without a reload, with a "new" badge,
   an unread count in the title and a browser notification; j/k and ? work there.
2. The agent claims a web chat customer's handoff; each side sees the other typing; Shift+Enter is a new
   line, Enter sends; the reply appears in the customer's chat and neither page reloads.
Screenshots go to var/artifacts/screenshots/ (tests/support/browser.py).  The latency figures are
bench/console_live.py's (make bench-console), not asserted here.
"""

import copy
import json
import re
from typing import Any

import aiohttp
import pytest

from handoff.shared.conversation_ids import rest_conversation, web_conversation
from handoff.shared.schema_file import EXAMPLE_FILE
from tests.support.browser import DESKTOP, PHONE, TIMEOUT_MS, chromium_path, screenshot_path
from tests.support.stack import DEMO_PASSWORD, RunningStack

pytestmark = pytest.mark.integration

# Counts the browser notifications the page shows (by tag), around the real Notification.
COUNT_NOTIFICATIONS = """
window.__notified = [];
const Real = window.Notification;
window.Notification = function (title, options) {
  window.__notified.push((options || {}).tag);
  return new Real(title, options);
};
Object.defineProperty(window.Notification, "permission", { get: () => Real.permission });
window.Notification.requestPermission = (...a) => Real.requestPermission(...a);
"""


async def _post_handoff(stack: RunningStack, conversation_id: str, key: str) -> str:
    body = copy.deepcopy(json.loads(EXAMPLE_FILE.read_text()))
    body["idempotency_key"], body["conversation_id"] = key, conversation_id
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


async def _agent_page(browser: Any, stack: RunningStack, size: dict[str, int]) -> Any:
    context = await browser.new_context(viewport=size)
    await context.grant_permissions(["notifications"], origin=stack.handoff_url)
    await context.add_init_script(COUNT_NOTIFICATIONS)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{stack.handoff_url}/console/login")
    await page.fill("input[name=username]", "agent")
    await page.fill("input[name=password]", DEMO_PASSWORD)
    await page.click("button[type=submit]")
    return page


async def test_a_new_handoff_arrives_live_with_a_badge_and_a_notification(stack: RunningStack) -> None:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            agent = await _agent_page(browser, stack, DESKTOP)
            await expect(agent.locator("#live-state")).to_have_text("Live")
            await agent.evaluate("window.__sameDocument = true")  # gone if the page reloads

            handoff_id = await _post_handoff(stack, rest_conversation("live-badge"), "live-badge-0001")

            row = agent.locator(f'#queue tr[data-handoff="{handoff_id}"]')
            await expect(row.locator(".badge")).to_have_text("new")
            await expect(agent).to_have_title(re.compile(r"^\(\d+\) "))
            assert await agent.evaluate("window.__sameDocument === true")
            assert f"handoff-{handoff_id}" in await agent.evaluate("window.__notified")
            await expect(row.locator("time.relative")).to_have_text(re.compile("ago|now"))

            await agent.keyboard.press("j")
            await expect(agent.locator("#queue tr.selected")).to_have_count(1)
            await agent.keyboard.press("?")
            await expect(agent.locator("#shortcuts")).to_have_attribute("open", "")
            await agent.screenshot(path=str(screenshot_path("console-live-queue", DESKTOP)), full_page=True)
            await agent.set_viewport_size(PHONE)
            await agent.screenshot(path=str(screenshot_path("console-live-queue", PHONE)), full_page=True)
        finally:
            await browser.close()


async def test_a_reply_sent_with_enter_reaches_the_web_chat_without_a_reload(stack: RunningStack) -> None:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            customer = await (await browser.new_context(viewport=PHONE)).new_page()
            customer.set_default_timeout(TIMEOUT_MS)
            await customer.goto(f"{stack.handoff_url}/chat")
            await expect(customer.locator("#status")).to_have_text("Connected")
            signed = await customer.evaluate("localStorage.getItem('attune-signed-session')")
            conversation = web_conversation(str(signed).split(".")[0])
            handoff_id = await _post_handoff(stack, conversation, "live-reply-0001")

            agent = await _agent_page(browser, stack, DESKTOP)
            await agent.goto(f"{stack.handoff_url}/console/handoffs/{handoff_id}")
            await agent.click("#claim")
            await expect(agent.locator("#reply-text")).to_be_visible()
            await expect(customer.locator("#messages li.notice").last).to_contain_text("has joined")
            await agent.evaluate("window.__sameDocument = true")
            await customer.evaluate("window.__sameDocument = true")

            await customer.fill("#message", "are you still there")  # typing, not sent
            await expect(agent.locator("#typing")).to_have_text("The customer is typing…")
            await agent.fill("#reply-text", "Hi, I'm Alex.")
            await expect(customer.locator("#typing")).to_contain_text("is typing")
            await agent.press("#reply-text", "Shift+Enter")
            await agent.type("#reply-text", "Your parcel left our depot today.")
            assert "\n" in await agent.input_value("#reply-text")  # a new line, nothing sent yet
            await agent.press("#reply-text", "Enter")

            reply = customer.locator("#messages li.agent", has_text="Your parcel left our depot today.")
            await expect(reply).to_be_visible()
            await expect(reply.locator("time")).to_have_count(1)  # a local time, not raw ISO
            await expect(customer.locator("#typing")).to_be_hidden()
            await expect(agent.locator("#transcript li.agent").last).to_contain_text("Your parcel left")
            await expect(agent.locator("#reply-text")).to_have_value("")
            assert await agent.evaluate("window.__sameDocument === true")
            assert await customer.evaluate("window.__sameDocument === true")
            await agent.screenshot(path=str(screenshot_path("console-live-handoff", DESKTOP)), full_page=True)
            await customer.screenshot(path=str(screenshot_path("chat-live-reply", PHONE)), full_page=True)
        finally:
            await browser.close()
