"""Errors: a page for a browser (with the reason and a link back), the documented JSON for everyone else."""

import pytest
from aiohttp.test_utils import TestClient

from handoff.core.error_pages import prefers_html
from tests.support.console import PASSWORD, log_in

# What Chromium sends when it navigates to a page.
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER, True),
        ("text/html", True),
        ("*/*", False),  # fetch's and curl's default
        ("", False),
        ("application/json", False),
        ("text/event-stream", False),  # EventSource
        ("application/json, text/html;q=0.9", False),
        ("text/html;q=0.5, application/json;q=0.4", True),
        ("text/html;q=0", False),
        ("text/html;q=nonsense", False),
        ("text/html;q=7", False),
        ("application/json;q=0.1, " * 40 + "text/html", False),  # past the ranges read
    ],
)
def test_only_a_request_ranking_html_above_json_gets_a_page(accept: str, html: bool) -> None:
    assert prefers_html(accept) is html


async def test_an_agents_403_in_a_browser_is_a_page_with_the_reason_and_a_way_back(
    service: TestClient,
) -> None:
    await log_in(service, "agent", PASSWORD)

    response = await service.get("/console/flags", headers={"Accept": BROWSER})

    assert response.status == 403
    assert response.content_type == "text/html"
    page = await response.text()
    assert '<h1 id="error-title">Forbidden</h1>' in page
    assert 'data-code="forbidden"' in page
    assert 'href="/console" id="error-back"' in page
    assert "your role does not review emotion flags</p>" in page
    assert '{"error"' not in page  # not the JSON body


async def test_the_same_403_for_an_api_client_keeps_the_json_body(service: TestClient) -> None:
    await log_in(service, "agent", PASSWORD)

    response = await service.get("/console/flags", headers={"Accept": "application/json"})

    assert response.status == 403
    body = await response.json()
    assert body["error"] == "forbidden" and body["detail"]


async def test_the_page_says_what_the_json_detail_says_escaped(service: TestClient) -> None:
    await log_in(service, "agent", PASSWORD)
    json_detail = (await (await service.get("/console/handoffs/<b>nope</b>")).json())["detail"]

    response = await service.get("/console/handoffs/<b>nope</b>", headers={"Accept": BROWSER})

    assert response.status == 404 and response.content_type == "text/html"
    page = await response.text()
    assert "<b>nope</b>" not in page  # the path is hostile: escaped, never markup
    assert ("&lt;b&gt;" in page) == ("<b>" in json_detail)


async def test_an_unknown_page_in_a_browser_is_a_404_page(service: TestClient) -> None:
    response = await service.get("/console/no-such-page", headers={"Accept": BROWSER})

    assert response.status == 404 and response.content_type == "text/html"
    assert "Not Found" in await response.text()
    assert "Content-Security-Policy" in response.headers  # the pages' headers, like every response
