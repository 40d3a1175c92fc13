"""The standard ``rasa-webchat`` widget (npm 1.0.1) on a shop's page, in real headless Chromium.

A site that embeds the widget cannot send socket.io ``auth``: it sends a session request with the
session id it stored, and ``customData`` with every message.  So the page here is configured as a
site would configure it (tests/integration/webchat/: the Rasa server's socket.io URL, and for a
logged-in customer the identity token its server signed, in ``customData``), served with the
widget's bundle from its own loopback origin, and the stack allows exactly that origin
(``ATTUNE_CORS_ORIGINS``).  Checked here: an anonymous customer's whole chat (buttons, a reload
that keeps the conversation, the opt-out, an agent's reply), a verified customer's opt-out that
follows them to SMS, and a page from an origin not in the list being refused the socket.

The widget's bundle comes from npm (``make rasa-webchat``) and the browser is Debian's chromium
(``make browser``): without them the test is skipped, or fails when CI=true.
"""

import asyncio
import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import aiohttp
import pytest
import yarl

from handoff.shared.identity_tokens import sign_identity_token
from tests.support.browser import SCREENSHOTS
from tests.support.console import csrf, log_in
from tests.support.ports import free_port
from tests.support.stack import DEMO_PASSWORD, ROOT, RunningStack, start_stack
from tests.support.twilio_fake import FakeTwilioThread

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("ATTUNE_CHROMIUM", "/usr/bin/chromium")
WIDGET = ROOT / ".cache" / "rasa-webchat" / "node_modules" / "rasa-webchat" / "lib" / "index.js"
PAGE = Path(__file__).resolve().parent / "webchat"
ARTIFACTS = SCREENSHOTS  # one folder of browser artifacts (tests/support/browser.py)
TIMEOUT_MS = 30_000
DEADLINE = 60.0
# This stack's own keys (at least 32 characters, handoff/shared/identity_tokens.py): the test signs the
# site's identity tokens with the same key the Rasa server verifies them with.
SESSION_KEY = "rasa-webchat-test-session-key-" + "s" * 16
IDENTITY_KEY = "rasa-webchat-test-identity-key-" + "i" * 16

T = TypeVar("T")


def required(path: Path, remedy: str) -> Path:
    """``path``, or a skip (a failure under CI=true) naming what is missing and how to get it."""
    if path.is_file():
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{path} is missing; {remedy}")
    pytest.skip(f"{path} not present; {remedy}")


class _PageHandler(BaseHTTPRequestHandler):
    """Serves the shop's page, its script and the widget's bundle; nothing else."""

    files = {
        "/": (PAGE / "index.html", "text/html; charset=utf-8"),
        "/page.js": (PAGE / "page.js", "text/javascript; charset=utf-8"),
        "/rasa-webchat.js": (WIDGET, "text/javascript; charset=utf-8"),
    }

    def do_GET(self) -> None:
        found = self.files.get(self.path.split("?", 1)[0])
        if found is None:
            self.send_error(404)
            return
        body = found[0].read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", found[1])
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def page_server(port: int) -> Iterator[str]:
    """The page served on 127.0.0.1:``port`` until the block ends; yields its origin."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _PageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass(frozen=True)
class Site:
    stack: RunningStack
    # The shop's origin, the only one ATTUNE_CORS_ORIGINS allows; and the same page on another.
    origin: str
    foreign_origin: str

    def page_url(self, token: str | None = None, origin: str | None = None) -> str:
        settings = {"socketUrl": self.stack.rasa_url, **({"token": token} if token else {})}
        return f"{origin or self.origin}/#{urlencode(settings)}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, twilio: FakeTwilioThread) -> Iterator[Site]:
    """A stack of its own (its CORS origins name this page), and the page on two origins."""
    chromium_path()
    required(WIDGET, "run `make rasa-webchat` to install the widget from npm")
    shop_port, foreign_port = free_port(), free_port()
    settings = {
        "ATTUNE_CORS_ORIGINS": f"http://127.0.0.1:{shop_port}",
        "ATTUNE_SESSION_KEY": SESSION_KEY,
        "ATTUNE_IDENTITY_KEY": IDENTITY_KEY,
    }
    with (
        page_server(shop_port) as origin,
        page_server(foreign_port) as foreign_origin,
        start_stack(tmp_path_factory.mktemp("webchat-var"), twilio, settings) as stack,
    ):
        yield Site(stack, origin, foreign_origin)


def chromium_path() -> str:
    return str(required(Path(CHROMIUM), "Debian's chromium: `make browser` (apt-get install chromium)"))


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright, expect

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=TIMEOUT_MS)  # the first replies after start-up warm the models up
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


async def open_widget(browser: Any, url: str) -> Any:
    """A new visitor (own storage) on the page at ``url``, once the widget has its session."""
    from playwright.async_api import expect

    page = await (await browser.new_context()).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    # rasa-webchat 1.0.1 logs "session_confirm:<socket> session_id:<id>" when the server confirms.
    async with page.expect_console_message(lambda m: m.text.startswith("session_confirm:")):
        await page.goto(url)
    await expect(page.locator(".rw-new-message")).to_be_visible()
    await expect(bot_message(page, "I'm Pip")).to_be_visible()  # the answer to the page's initPayload
    return page


async def say(page: Any, text: str, expect_reply: str) -> None:
    from playwright.async_api import expect

    await page.locator(".rw-new-message").fill(text)
    await page.locator(".rw-new-message").press("Enter")
    await expect(page.locator(".rw-client", has_text=text).last).to_be_visible()
    await expect(bot_message(page, expect_reply)).to_be_visible()


def bot_message(page: Any, text: str) -> Any:
    return page.locator(".rw-response", has_text=text).last


async def signed_session(page: Any) -> str:
    """The server-issued session id the widget stored (rasa-webchat keeps it in ``chat_session``)."""
    stored = await page.evaluate("window.localStorage.getItem('chat_session')")
    assert stored, "the widget stored no session"
    session_id = json.loads(stored).get("session_id")
    assert isinstance(session_id, str) and session_id, stored
    return session_id


def conversation_of(signed: str) -> str:
    """The web chat's conversation: ``web:`` + the random part of the signed id (conversation_ids.py)."""
    session, _, signature = signed.partition(".")
    assert len(session) == 32 and signature, f"not a server-issued session id: {signed!r}"
    return f"web:{session}"


async def tracker(stack: RunningStack, conversation_id: str) -> dict[str, Any]:
    # ":" is allowed in a path segment; Rasa reads it with or without percent-decoding.
    path = f"/conversations/{quote(conversation_id, safe=':+')}/tracker"
    url = yarl.URL(stack.rasa_url + path, encoded=True)
    async with aiohttp.ClientSession() as session, session.get(url.with_query(token=stack.token)) as response:
        assert response.status == 200, await response.text()
        return dict(await response.json())


def user_events(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in state["events"] if e["event"] == "user"]


async def user_events_if_any(stack: RunningStack, conversation_id: str) -> list[dict[str, Any]] | None:
    return user_events(await tracker(stack, conversation_id)) or None


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


async def handoff_of(stack: RunningStack, conversation_id: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {stack.handoff_token}"}

    async def find() -> dict[str, Any] | None:
        async with (
            aiohttp.ClientSession(headers=headers) as session,
            session.get(f"{stack.handoff_url}/api/v1/handoffs", params={"limit": "1000"}) as response,
        ):
            assert response.status == 200, await response.text()
            queue = (await response.json())["handoffs"]
        return next((h for h in queue if h["conversation_id"] == conversation_id), None)

    return await eventually(find, f"a handoff for {conversation_id}")


async def agent_claims_and_replies(stack: RunningStack, handoff_id: str, text: str) -> None:
    """What an agent does in the console (test_browser_handoff.py clicks the same forms)."""
    base = stack.handoff_url
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        token = await log_in(session, "agent", DEMO_PASSWORD, base=base)
        for action, form in (("claim", {}), ("reply", {"text": text})):
            async with session.post(
                f"{base}/console/handoffs/{handoff_id}/{action}", data={**form, "csrf_token": token}
            ) as response:
                assert response.status == 200, await response.text()
                assert "error=" not in str(response.url), f"{action}: {response.url}"
                token = csrf(await response.text())


async def test_an_anonymous_customer_chats_in_the_standard_widget(site: Site) -> None:
    from playwright.async_api import expect

    async with chromium() as browser:
        page = await open_widget(browser, site.page_url())
        await say(page, "can you call me back?", "What number should we call?")
        await say(page, "it's 07911 123456", "When suits you?")
        await page.locator(".rw-replies .rw-reply").first.click()  # a time, as a button
        await expect(bot_message(page, "To confirm")).to_be_visible()
        await page.locator(".rw-replies .rw-reply", has_text="No").click()
        await expect(bot_message(page, "we won't call you")).to_be_visible()
        signed = await signed_session(page)

        await page.reload()  # the widget asks for its stored session back; the server confirms it
        await expect(bot_message(page, "we won't call you")).to_be_visible()
        await expect(page.locator(".rw-new-message")).to_be_visible()
        assert await signed_session(page) == signed
        await say(page, "stop analysing my emotions", "I won't analyse your mood")
        await say(page, "i want to talk to a human", "passed our conversation to the Parcelpine team")

        conversation = conversation_of(signed)
        handoff = await handoff_of(site.stack, conversation)
        reply = f"Hi, I'm Alex. Reference {uuid.uuid4().hex[:8]}: your parcel left our depot today."
        await agent_claims_and_replies(site.stack, handoff["id"], reply)
        await expect(bot_message(page, reply)).to_be_visible()
        await page.screenshot(path=str(ARTIFACTS / "rasa-webchat-anonymous.png"), full_page=True)

    events = user_events(await tracker(site.stack, conversation))
    texts = [e["text"] for e in events]
    # One conversation across the reload: what was said before it and after it.
    assert "can you call me back?" in texts and "stop analysing my emotions" in texts
    assert {e["input_channel"] for e in events} == {"socketio"}
    last = events[-1]["metadata"]["attune"]
    assert last["emotion_processing"] == "off" and "verified" not in last


async def test_a_verified_customers_opt_out_in_the_widget_follows_them_to_sms(site: Site) -> None:
    stack = site.stack
    suffix = f"{uuid.uuid4().int % 10_000:04d}"
    customer, phone = f"C-W{suffix}", f"+44770098{suffix}"  # numbers no other test uses
    token = sign_identity_token(customer, IDENTITY_KEY, phone=phone, email=f"w{suffix}@example.com")

    async with chromium() as browser:
        page = await open_widget(browser, site.page_url(token=token))
        await say(page, "stop analysing my emotions", "I won't analyse your mood")
        await page.screenshot(path=str(ARTIFACTS / "rasa-webchat-verified.png"), full_page=True)
        conversation = conversation_of(await signed_session(page))

    web = user_events(await tracker(stack, conversation))[-1]["metadata"]["attune"]
    assert web["verified"]["id"] == customer and web["verified"]["phone"] == phone

    sms = f"sms:{phone}"
    webhook = f"{stack.rasa_url}/webhooks/twilio/webhook"
    assert await stack.twilio.fake.send_sms(webhook, phone, "THIS IS USELESS, where is order 10002?!") == 200
    events = await eventually(
        lambda: user_events_if_any(stack, sms), f"the SMS from {phone} in conversation {sms}"
    )
    read = events[-1]
    assert read["input_channel"] == "twilio"
    assert read["metadata"]["attune"]["emotion_processing"] == "off"
    assert read["metadata"]["attune"]["customer"] == web["customer"]
    assert "probabilities" not in (read["parse_data"].get("emotion") or {})

    headers = {"Authorization": f"Bearer {stack.handoff_token}"}
    url = f"{stack.handoff_url}/api/v1/customers/{quote(web['customer'], safe='')}/consent"
    async with aiohttp.ClientSession(headers=headers) as session, session.get(url) as response:
        assert response.status == 200, await response.text()
        consent = await response.json()
    assert consent["emotion_processing"] == "off"
    assert consent["log"][-1]["channel"] == "socketio"

    # Another number that nobody linked is still read: the "off" above is this customer's own.
    other = f"+44770099{suffix}"
    assert await stack.twilio.fake.send_sms(webhook, other, "where is order 10002?") == 200
    others = await eventually(lambda: user_events_if_any(stack, f"sms:{other}"), f"the SMS from {other}")
    assert others[-1]["metadata"]["attune"]["emotion_processing"] == "on"


async def test_a_page_from_an_origin_not_allowed_is_refused_the_socket(site: Site) -> None:
    async with chromium() as browser:
        allowed = await open_widget(browser, site.page_url())
        assert [e["event"] for e in await allowed.evaluate("window.socketEvents")] == ["connect"]

        foreign = await (await browser.new_context()).new_page()
        await foreign.goto(site.page_url(origin=site.foreign_origin))
        await foreign.wait_for_function("window.socketEvents && window.socketEvents.length > 0")
        events = await foreign.evaluate("window.socketEvents")
        # Refused at the handshake, whichever layer refuses it; it never connects, so never gets a session.
        assert events[0]["event"] == "connect_error", events
        assert "connect" not in [e["event"] for e in events], events
        assert await foreign.evaluate("window.localStorage.getItem('chat_session')") is None
