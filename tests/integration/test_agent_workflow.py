"""An agent's working session in real headless Chromium (Debian's chromium, Playwright) on the whole stack.

A supervisor adds a canned response.  Two web chat customers are handed off; the agent claims both,
writes an internal note, answers the first with the canned response picked with "/" (and Enter), answers
the second, transfers the second to the supervisor with a note, and resolves the first with a reason.
Each customer sees only what was sent to them, the note reaches no customer, and the supervisor gets the
transferred chat.  Screenshots go to var/artifacts/screenshots/ (tests/support/browser.py).
"""

import copy
import json
from typing import Any
from uuid import uuid4

import aiohttp
import pytest

from handoff.shared.conversation_ids import web_conversation
from handoff.shared.schema_file import EXAMPLE_FILE
from tests.support.browser import DESKTOP, PHONE, TIMEOUT_MS, chromium_path, screenshot_path
from tests.support.stack import DEMO_PASSWORD, RunningStack

pytestmark = pytest.mark.integration

CANNED_BODY = "Thanks for waiting. I am checking order {order_number} for you right now."
CAPACITY = 20
NOTE = "Customer is anxious about medication in the parcel; check depot scans first."
# A transfer or resolution page waits on up to three Rasa calls before it redirects to the queue.
RASA_ROUND_TRIPS_MS = 90_000


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


async def _logged_in(browser: Any, stack: RunningStack, username: str) -> Any:
    page = await (await browser.new_context(viewport=DESKTOP)).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{stack.handoff_url}/console/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", DEMO_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{stack.handoff_url}/console")
    return page


async def _customer(browser: Any, stack: RunningStack, key: str) -> tuple[Any, str]:
    """A web chat customer (phone-sized) and the id of the handoff made for their conversation."""
    from playwright.async_api import expect

    page = await (await browser.new_context(viewport=PHONE)).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto(f"{stack.handoff_url}/chat")
    await expect(page.locator("#status")).to_have_text("Connected")
    signed = await page.evaluate("localStorage.getItem('attune-signed-session')")
    return page, await _post_handoff(stack, web_conversation(str(signed).split(".")[0]), key)


async def _add_canned_response(supervisor: Any, stack: RunningStack, shortcut: str) -> None:
    from playwright.async_api import expect

    await supervisor.goto(f"{stack.handoff_url}/console/canned")
    await supervisor.fill("#new-shortcut", shortcut)
    await supervisor.fill("#new-title", "Checking the order")
    await supervisor.fill("#new-body", CANNED_BODY)
    await supervisor.click("#new-canned button[type=submit]")
    await expect(supervisor.locator("body")).to_contain_text(f"{shortcut}")


async def _raise_capacity(supervisor: Any, stack: RunningStack, name: str) -> None:
    """Room for two more chats, whatever other tests of the package left the agent holding."""
    from playwright.async_api import expect

    await supervisor.goto(f"{stack.handoff_url}/console/team")
    row = supervisor.locator("#team tr", has_text=name)
    await row.locator("input[name=capacity]").fill(str(CAPACITY))
    await row.locator("button[type=submit]").click()
    await expect(supervisor.locator("#team tr", has_text=name).locator("input[name=capacity]")).to_have_value(
        str(CAPACITY)
    )


async def test_an_agent_handles_two_chats_with_a_note_a_canned_reply_a_transfer_and_a_disposition(
    stack: RunningStack,
) -> None:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=TIMEOUT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            supervisor = await _logged_in(browser, stack, "supervisor")
            await _add_canned_response(supervisor, stack, "checking")
            await _raise_capacity(supervisor, stack, "Alex Agent")
            first, first_id = await _customer(browser, stack, f"workflow-first-{uuid4().hex[:12]}")
            second, second_id = await _customer(browser, stack, f"workflow-second-{uuid4().hex[:12]}")
            agent = await _logged_in(browser, stack, "agent")
            for handoff_id in (first_id, second_id):
                await expect(agent.locator(f'#queue tr[data-handoff="{handoff_id}"]')).to_have_count(1)
            await agent.screenshot(
                path=str(screenshot_path("workflow-queue-two-chats", DESKTOP)), full_page=True
            )

            # Both chats claimed: the agent holds two at once.
            for handoff_id, customer in ((first_id, first), (second_id, second)):
                await agent.goto(f"{stack.handoff_url}/console/handoffs/{handoff_id}")
                await agent.click("#claim")
                await expect(agent.locator("#reply-text")).to_be_visible()
                await expect(customer.locator("#messages li.notice").last).to_contain_text("has joined")
            await agent.goto(f"{stack.handoff_url}/console")
            for handoff_id in (first_id, second_id):  # both held by the agent at once
                row = agent.locator(f'#queue tr[data-handoff="{handoff_id}"]')
                await expect(row.locator("td", has_text="claimed (you)")).to_have_count(1)

            # The first chat: an internal note, then the canned response chosen with "/" and sent with Enter.
            await agent.goto(f"{stack.handoff_url}/console/handoffs/{first_id}")
            await agent.fill("#note-text", NOTE)
            await agent.click("#add-note")
            await expect(agent.locator("#note-list")).to_contain_text(NOTE)
            await agent.click("#reply-text")
            await agent.keyboard.type("/check")
            suggestion = agent.locator("#canned-suggestions li[aria-selected=true]")
            await expect(suggestion).to_contain_text("/checking")
            await agent.screenshot(
                path=str(screenshot_path("workflow-canned-suggestion", DESKTOP)), full_page=True
            )
            await agent.keyboard.press("Enter")  # inserts the response, sends nothing yet
            await expect(agent.locator("#reply-text")).to_have_value(
                CANNED_BODY.replace("{order_number}", "55556")
            )
            await agent.keyboard.press("Enter")  # sends it
            sent = first.locator("#messages li.agent", has_text="I am checking order 55556")
            await expect(sent).to_be_visible()
            await expect(agent.locator("#reply-text")).to_have_value("")

            # The second chat: a reply, then a transfer to the supervisor with a note.
            await agent.goto(f"{stack.handoff_url}/console/handoffs/{second_id}")
            await agent.fill("#reply-text", "I am passing you to my colleague Sam, who handles deliveries.")
            await agent.press("#reply-text", "Enter")
            await expect(
                second.locator("#messages li.agent", has_text="passing you to my colleague")
            ).to_be_visible()
            await agent.select_option("#transfer-to", label=await _colleague_label(agent, "Sam Supervisor"))
            await agent.fill("#transfer-note", "Delivery question, second order")
            await agent.click("#transfer")
            # Back to the queue.  A transfer or resolution waits on Rasa (resume, the transcript, the
            # goodbye), slow late in the suite on two busy cores: one clean-clone CI run took over 30 s.
            await agent.wait_for_url(f"{stack.handoff_url}/console*", timeout=RASA_ROUND_TRIPS_MS)
            await agent.goto(f"{stack.handoff_url}/console/handoffs/{second_id}")
            await expect(agent.locator("#transfer-list")).to_contain_text("Delivery question, second order")
            await expect(agent.locator("#reply-text")).to_have_count(0)  # no longer the agent's to answer

            await supervisor.goto(f"{stack.handoff_url}/console/handoffs/{second_id}")
            await expect(supervisor.locator("#reply-text")).to_be_visible()  # the supervisor holds it now
            await expect(supervisor.locator("#transfer-list")).to_contain_text("Alex Agent")

            # The first chat resolved with a reason.
            await agent.goto(f"{stack.handoff_url}/console/handoffs/{first_id}")
            await agent.select_option("#disposition", "order_located")
            await agent.fill("#disposition-note", "Parcel at the depot, out tomorrow")
            await agent.click("#resolve")
            await agent.wait_for_url(f"{stack.handoff_url}/console*", timeout=RASA_ROUND_TRIPS_MS)  # resolved
            await agent.goto(f"{stack.handoff_url}/console/handoffs/{first_id}")
            await expect(agent.locator("#disposition-shown strong")).to_have_attribute(
                "data-code", "order_located"
            )
            await expect(agent.locator("#human-transcript")).to_contain_text("I am checking order 55556")
            await agent.screenshot(path=str(screenshot_path("workflow-resolved", DESKTOP)), full_page=True)
            await first.screenshot(
                path=str(screenshot_path("workflow-first-customer", PHONE)), full_page=True
            )
            await second.screenshot(
                path=str(screenshot_path("workflow-second-customer", PHONE)), full_page=True
            )

            # Internal notes reach no customer; each customer saw only their own replies.
            for customer in (first, second):
                await expect(customer.locator("#messages")).not_to_contain_text(NOTE)
            await expect(second.locator("#messages")).not_to_contain_text("I am checking order")
            await expect(first.locator("#messages")).not_to_contain_text("passing you to my colleague")
        finally:
            await browser.close()


async def _colleague_label(page: Any, name: str) -> str:
    """The transfer list's option for ``name`` (its label also shows presence and load)."""
    labels = await page.locator("#transfer-to option").all_inner_texts()
    matching = [label for label in labels if label.startswith(name)]
    assert matching, f"{name} is not offered for a transfer: {labels}"
    return matching[0]
