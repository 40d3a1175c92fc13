"""Issue 16, web chat polish, in real headless Chromium (Debian's package, driven by Playwright).

At a phone's size (390x844) and a desktop's (1280x800): the chat greets the customer with the
emotion-awareness notice and its switch; after 10 turns the newest message, the input and the
header are still in view (the log scrolls, the page does not); the offer of a person comes with
Yes/No buttons, and buttons go dead once used or once the bot has moved on.  With a person: their
join and leave are each shown once, as notices, and their messages carry their name and look
unlike the bot's.  Screenshots of the chat and of the console's handoff page at both sizes are saved
to var/artifacts/screenshots/ (their paths are printed).
"""

import sqlite3
from typing import Any

import pytest

from tests.support.browser import DESKTOP, PHONE, TIMEOUT_MS, chromium_path, screenshot_path
from tests.support.stack import DEMO_PASSWORD, ROOT, RunningStack

pytestmark = pytest.mark.integration

SIZES = {"phone": PHONE, "desktop": DESKTOP}
AGENT_NAME = "Alex Agent"  # the demo "agent" account (handoff/core/accounts.py)
YES, NO = "Yes, bring in a person", "No, carry on"
# Three turns that bring the offer of a person (two failed look-ups, then frustration).
TO_THE_OFFER = [
    ("where is order 55555", "couldn't find an order 55555"),
    ("it's 55556, I told you", "couldn't find an order 55556"),
    ("still nothing?? this is ridiculous", "bring in"),
]
MORE_TURNS = ["hi", "thanks", "what do you do with my data?", "how do I return something?", "ok", "thank you"]


async def _turn(page: Any, text: str, expect_reply: str | None = None) -> None:
    """Sends ``text`` and waits for the bot's answer (one containing ``expect_reply``, if given)."""
    from playwright.async_api import expect

    incoming = page.locator("#messages li.bot")
    before = await incoming.count()
    await page.fill("#message", text)
    await page.click("#send")
    if expect_reply:
        await expect(page.locator("#messages li.bot", has_text=expect_reply).last).to_be_visible()
    else:
        await expect(incoming).not_to_have_count(before)


async def _offer(page: Any) -> Any:
    """Talks the bot into offering a person; the offer's Yes/No buttons."""
    from playwright.async_api import expect

    for text, reply in TO_THE_OFFER:
        await _turn(page, text, reply)
    buttons = page.locator("#messages li.bot", has_text="bring in").last.locator(".buttons button")
    await expect(buttons).to_have_text([YES, NO])
    for button in await buttons.all():
        await expect(button).to_be_enabled()
    return buttons


async def _in_view(page: Any) -> None:
    """The newest message, the input and the header are wholly on screen; the page did not scroll."""
    from playwright.async_api import expect

    await expect(page.locator("#messages > li").last).to_be_in_viewport(ratio=1)
    await expect(page.locator("#message")).to_be_in_viewport(ratio=1)
    await expect(page.locator("#send")).to_be_in_viewport(ratio=1)
    await expect(page.locator("#chat header")).to_be_in_viewport(ratio=1)
    assert await page.evaluate("document.scrollingElement.scrollTop") == 0


@pytest.mark.parametrize("size_name", list(SIZES))
async def test_the_chat_greets_and_keeps_the_newest_message_and_the_input_in_view(
    stack: RunningStack, size_name: str
) -> None:
    from playwright.async_api import async_playwright, expect

    size = SIZES[size_name]
    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            page = await (await browser.new_context(viewport=size)).new_page()
            page.set_default_timeout(TIMEOUT_MS)
            await page.goto(f"{stack.handoff_url}/chat")
            # The greeting and the notice are there before anything is said, with a working switch.
            await expect(page.locator("#messages > li").first).to_contain_text("I'm Pip")
            notice = page.locator("#emotion-notice")
            await expect(notice).to_contain_text("adapts its replies to how you seem to feel")
            await expect(notice).to_contain_text("Emotion-aware replies")
            await expect(page.locator("#status")).to_have_text("Connected")
            await expect(page.locator("#emotion-toggle")).to_be_enabled()
            await expect(page.locator("#emotion-toggle")).to_have_text("Turn it off")
            await expect(page.locator("#emotion-switch")).to_be_checked()

            offer = await _offer(page)  # turns 1-3
            await _turn(page, "no, not yet", "let's keep going")  # turn 4: the bot moves on
            for button in await offer.all():
                await expect(button).to_be_disabled()
            for text in MORE_TURNS:  # turns 5-10
                await _turn(page, text)

            assert await page.locator("#messages li.customer").count() == 10
            await _in_view(page)
            # It is the log that scrolled: the greeting has gone off the top.
            await expect(page.locator("#greeting")).not_to_be_in_viewport()
            await page.screenshot(path=str(screenshot_path("chat-10-turns", size)))
        finally:
            await browser.close()


def _handoff_of(stack: RunningStack, conversation_id: str) -> str:
    with sqlite3.connect(stack.var_dir / "handoff.db") as db:
        row = db.execute(
            "SELECT id FROM handoffs WHERE conversation_id = ? ORDER BY created_at DESC", (conversation_id,)
        ).fetchone()
    assert row, f"no handoff for {conversation_id}"
    return str(row[0])


async def test_a_person_joins_replies_with_their_name_and_leaves_once_each(stack: RunningStack) -> None:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            customer = await (await browser.new_context(viewport=PHONE)).new_page()
            customer.set_default_timeout(TIMEOUT_MS)
            await customer.goto(f"{stack.handoff_url}/chat")
            await expect(customer.locator("#status")).to_have_text("Connected")
            messages = customer.locator("#messages")

            offer = await _offer(customer)
            await offer.first.click()  # Yes
            for button in await offer.all():
                await expect(button).to_be_disabled()  # used: neither can be pressed again
            await expect(offer.first).to_have_class("chosen")
            # The words they saw (the message also shows its local time).
            await expect(messages.locator("li.customer").last).to_have_attribute("data-text", YES)
            await expect(messages.locator("li.bot", has_text="passed our conversation")).to_be_visible()

            session = await customer.evaluate("localStorage.getItem('attune-signed-session')")
            handoff_id = _handoff_of(stack, "web:" + str(session).split(".")[0])

            agent = await (await browser.new_context(viewport=DESKTOP)).new_page()
            agent.set_default_timeout(TIMEOUT_MS)
            await agent.goto(f"{stack.handoff_url}/console/login")
            await agent.fill("input[name=username]", "agent")
            await agent.fill("input[name=password]", DEMO_PASSWORD)
            await agent.click("button[type=submit]")
            await agent.goto(f"{stack.handoff_url}/console/handoffs/{handoff_id}")
            await agent.click("#claim")

            # Joined: one notice (Rasa sends the text, then the notice's data: one bubble, not two).
            await expect(messages.locator("li.notice", has_text="has joined")).to_contain_text(AGENT_NAME)
            await expect(messages.locator("li", has_text="has joined")).to_have_count(1)

            reply = "Hi, I'm Alex.\n\nI've found your parcel: it left our depot today."  # two paragraphs
            await agent.fill("#reply-text", reply)
            await agent.click("#send")
            from_agent = messages.locator("li.agent")
            await expect(from_agent).to_have_count(1)
            await expect(from_agent.locator(".author")).to_have_text(AGENT_NAME)
            await expect(from_agent.locator(".text")).to_have_text(reply)
            await expect(messages.locator("li", has_text="found your parcel")).to_have_count(1)
            styles = await customer.evaluate(
                """() => [...document.querySelectorAll('#messages li.bot')].slice(-2).map(
                       (li) => getComputedStyle(li).backgroundColor)"""
            )
            assert styles[0] != styles[1], f"a person's message looks like the bot's: {styles}"

            await expect(agent.locator("#transcript")).to_contain_text("found your parcel")
            for size in (PHONE, DESKTOP):
                await customer.set_viewport_size(size)
                await _in_view(customer)
                await customer.screenshot(path=str(screenshot_path("chat-with-a-person", size)))
            for size in (DESKTOP, PHONE):
                await agent.set_viewport_size(size)
                await agent.screenshot(path=str(screenshot_path("console-handoff", size)), full_page=True)

            await agent.select_option("#disposition", "solved")  # a reason is required (policy/workspace.yml)
            await agent.click("#resolve")
            await expect(messages.locator("li.notice", has_text="back with Pip")).to_be_visible()
            await expect(messages.locator("li", has_text="back with Pip")).to_have_count(1)
            await expect(messages.locator("li", has_text="has joined")).to_have_count(1)
        finally:
            await browser.close()


@pytest.mark.parametrize("tone", ["calm_direct", "apologetic", "warm", None])
def test_the_offer_has_yes_no_buttons_where_buttons_show_and_sms_gets_the_text(tone: str | None) -> None:
    """Buttons on the web chat and REST; Twilio (SMS, WhatsApp) gets a text that asks for yes or no."""
    from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain

    domain = Domain.load(str(ROOT / "domain.yml"))
    nlg = TemplatedNaturalLanguageGenerator(domain.responses)
    slots = {"tone": tone}

    for channel in ("socketio", "rest"):
        shown = nlg.generate_from_slots("utter_offer_human", slots, channel)
        assert shown and [(b["title"], b["payload"]) for b in shown["buttons"]] == [
            (YES, "/affirm"),
            (NO, "/deny"),
        ]
    sms = nlg.generate_from_slots("utter_offer_human", slots, "twilio")
    assert sms and "buttons" not in sms and "yes or no" in sms["text"].lower()
