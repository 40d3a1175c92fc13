"""Logging in to the agent console from a test: the login page's CSRF token, then the form."""

import re
from typing import Any

from aiohttp.test_utils import TestClient

# The demo accounts' password in the tests' service settings (demo_password).
PASSWORD = "demo-password-123"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(html: str) -> str:
    """The CSRF token of a console page's forms."""
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


async def log_in(client: Any, username: str, password: str, base: str = "") -> str:
    """Logs ``client`` (aiohttp's TestClient, or a ClientSession with ``base``) in; returns the
    CSRF token of the queue page it lands on, for the forms the test posts next.
    """
    page = await (await client.get(f"{base}/console/login")).text()
    response = await client.post(
        f"{base}/console/login", data={"username": username, "password": password, "csrf_token": csrf(page)}
    )
    assert response.status == 200, await response.text()
    return csrf(await response.text())


async def new_client(aiohttp_client: Any, service: TestClient) -> TestClient:
    """A second browser on the same service (its own cookies)."""
    second: TestClient = await aiohttp_client(service.server)
    return second


async def log_in_page(page: Any, url: str, username: str, password: str = PASSWORD) -> None:
    """Logs a Playwright ``page`` in through the console's login form at ``url``."""
    await page.goto(f"{url}/console/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
