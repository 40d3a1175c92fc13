"""The customer web chat page: anonymous by default; the tour's demo sign-in carries a signed token."""

import dataclasses
import html
import re

from handoff.app import create_app
from handoff.core.settings import Settings
from handoff.shared.identity_tokens import VerifiedCustomer, verify_identity_token

IDENTITY_KEY = "chat-page-identity-key-0123456789abcdef"
TOKEN_ATTRIBUTE = re.compile(r'data-identity-token="([^"]*)"')


def token_on(page: str) -> str:
    match = TOKEN_ATTRIBUTE.search(page)
    assert match, "the page has no data-identity-token attribute"
    return html.unescape(match.group(1))


async def test_the_plain_page_is_anonymous_and_offers_no_sign_in_without_the_demo(
    aiohttp_client, settings: Settings
) -> None:
    client = await aiohttp_client(create_app(dataclasses.replace(settings, identity_key=IDENTITY_KEY)))

    plain = await client.get("/chat")
    asked = await client.get("/chat?as=demo")  # the demo is off: asking changes nothing

    for response in (plain, asked):
        page = await response.text()
        assert response.status == 200 and token_on(page) == ""
        assert "Sign in as the demo customer" not in page and "Signed in as" not in page
        assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'self'
        assert "<script>" not in page  # no inline script: the CSP allows none


async def test_the_demo_sign_in_renders_a_fresh_token_for_dana(aiohttp_client, settings: Settings) -> None:
    demo = dataclasses.replace(settings, identity_key=IDENTITY_KEY, demo_sign_in=True)
    client = await aiohttp_client(create_app(demo))

    offered = await (await client.get("/chat")).text()
    response = await client.get("/chat?as=demo")
    page = await response.text()

    assert 'href="/chat?as=demo"' in offered and "Sign in as the demo customer (Dana, C-1001)" in offered
    assert token_on(offered) == ""
    assert "Signed in as Dana" in page
    assert verify_identity_token(token_on(page), IDENTITY_KEY) == VerifiedCustomer(
        "C-1001", "+447700900001", "dana@example.com"
    )
    assert verify_identity_token(token_on(page), "another-key-0123456789abcdef0123456") is None
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
