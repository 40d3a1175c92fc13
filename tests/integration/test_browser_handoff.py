"""End to end in real headless Chromium (Debian's package, driven by Playwright).

a customer chats on the web page until frustration brings the offer of a person and accepts;
an agent logs in (a second browser context), sees the chart and summary, claims and replies;
the customer sees the reply; the agent resolves; the bot answers the customer's next message.
Screenshots are saved in var/artifacts/screenshots/ (tests/support/browser.py).
"""

import pytest

from tests.support.browser import SCREENSHOTS, TIMEOUT_MS, chromium_path
from tests.support.stack import DEMO_PASSWORD, RunningStack

pytestmark = pytest.mark.integration

ARTIFACTS = SCREENSHOTS


async def test_customer_to_agent_and_back_in_a_real_browser(stack: RunningStack) -> None:
    from playwright.async_api import async_playwright, expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=TIMEOUT_MS)  # the first replies after start-up warm the models up
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            customer = await (await browser.new_context()).new_page()
            customer.set_default_timeout(TIMEOUT_MS)
            await customer.goto(f"{stack.handoff_url}/chat")
            await expect(customer.locator("#status")).to_have_text("Connected")

            async def say(text: str, expect_reply: str) -> None:
                await customer.fill("#message", text)
                await customer.click("#send")
                await expect(customer.locator("#messages li.bot", has_text=expect_reply).last).to_be_visible()

            await say("where is order 55555", "couldn't find an order 55555")
            await say("it's 55556, I told you", "couldn't find an order 55556")
            await say("still nothing?? this is ridiculous", "bring in")
            await say("yes please", "passed our conversation to the Parcelpine team")
            await customer.screenshot(path=str(ARTIFACTS / "chat-handoff.png"), full_page=True)

            agent = await (await browser.new_context()).new_page()
            agent.set_default_timeout(TIMEOUT_MS)
            await agent.goto(f"{stack.handoff_url}/console/login")
            await agent.fill("input[name=username]", "agent")
            await agent.fill("input[name=password]", DEMO_PASSWORD)
            await agent.click("button[type=submit]")
            await expect(agent.locator("table.queue")).to_contain_text("failed 2 times")
            # This customer's handoff: waiting, not one another test's agent has claimed or been given.
            rows = agent.locator("table.queue tr", has_text="failed 2 times")
            waiting = rows.filter(has_not_text="claimed")
            await waiting.first.locator("a", has_text="Open").click()
            await expect(agent.locator("#trajectory")).to_be_visible()
            await expect(agent.locator("#summary")).to_contain_text("Self-service failed 2 times")
            await expect(agent.locator("#attempts")).to_contain_text("no order with that number exists")
            await agent.click("#claim")
            await expect(customer.locator("#messages li.notice").last).to_contain_text("has joined")

            await agent.fill("#reply-text", "Hi, I'm Alex. I've found your parcel: it left our depot today.")
            await agent.click("#send")
            await expect(
                customer.locator("#messages li.bot", has_text="I've found your parcel")
            ).to_be_visible()
            await expect(agent.locator("#transcript li.customer").first).to_contain_text(
                "where is order 55555"
            )
            await agent.screenshot(path=str(ARTIFACTS / "console-handoff.png"), full_page=True)

            await customer.fill("#message", "thank you!")
            await customer.click("#send")
            await expect(agent.locator("#transcript")).to_contain_text("thank you!")  # live, no reload
            await agent.select_option("#disposition", "solved")  # a reason is required (policy/workspace.yml)
            await agent.click("#resolve")
            await expect(customer.locator("#messages li.notice").last).to_contain_text("back with Pip")

            await say("where is order 10002", "postcode on order 10002")  # an anonymous chat proves it
            await say("ada@example.com", "on its way")
            await customer.screenshot(path=str(ARTIFACTS / "chat-after-handback.png"), full_page=True)
        finally:
            await browser.close()


async def test_the_chat_switch_turns_emotion_analysis_off_for_the_next_message(stack: RunningStack) -> None:
    """The switch in the page records the choice; the next message is not read for emotion at all."""
    import json
    import sqlite3

    from playwright.async_api import async_playwright, expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = await (await browser.new_context()).new_page()
            await page.goto(f"{stack.handoff_url}/chat")
            await expect(page.locator("#status")).to_have_text("Connected")
            await expect(page.locator("#emotion-switch")).to_be_checked()
            await page.click("#emotion-switch")
            await expect(page.locator("#messages li.notice", has_text="off")).to_be_visible()
            await page.fill("#message", "THIS IS USELESS, where is order 10002?!")
            await page.click("#send")
            await expect(page.locator("#messages li.bot").last).to_be_visible()
            session_id = await page.evaluate("localStorage.getItem('attune-signed-session')")
            await page.reload()
            await expect(
                page.locator("#emotion-switch")
            ).not_to_be_checked()  # the page shows the saved choice
            await page.screenshot(path=str(ARTIFACTS / "chat-emotion-off.png"), full_page=True)
        finally:
            await browser.close()

    # The page keeps the signed session id the server issued; the conversation is web:<session>.
    conversation = "web:" + str(session_id).split(".")[0]
    with sqlite3.connect(stack.var_dir / "tracker.db") as db:
        rows = [
            json.loads(r[0])
            for r in db.execute("SELECT data FROM events WHERE sender_id = ?", (conversation,))
        ]
    readings = [e["parse_data"].get("emotion") for e in rows if e["event"] == "user"]
    assert readings and all("probabilities" not in (r or {}) for r in readings)
