"""Console search: by order number, customer, text and status; masked data is not searchable by roles
that see it masked; hostile queries are refused with a reason.
"""

import re

import pytest
from aiohttp.test_utils import TestClient

from handoff.core import access
from handoff.core.app_keys import ENGINE
from handoff.history import search, search_index
from handoff.history.queries import SearchQuery
from handoff.queue import handoffs
from tests.handoff.history.helpers import add, agent_id
from tests.support.console import PASSWORD, log_in, new_client

ROW = re.compile(r'<tr data-handoff="([^"]+)"')


async def found(client: TestClient, **params: str) -> list[str]:
    response = await client.get("/console/search", params=params)
    assert response.status == 200, await response.text()
    return ROW.findall(await response.text())


async def test_an_order_number_and_a_customer_find_their_handoff_only(service: TestClient) -> None:
    wanted = add(service, pseudonym="cust-aaaaaaaaaaaaaaaa", order="77123")
    add(service, pseudonym="cust-bbbbbbbbbbbbbbbb", order="88000")
    await log_in(service, "agent", PASSWORD)

    assert await found(service, q="77123", kind="order") == [wanted]
    assert await found(service, q="cust-aaaaaaaaaaaaaaaa", kind="customer") == [wanted]
    assert await found(service, q="77123") == [wanted]  # "any"
    assert await found(service, q="nothing like this anywhere") == []


async def test_what_a_role_sees_masked_it_cannot_search_for(aiohttp_client, service: TestClient) -> None:
    handoff_id = add(service)
    await log_in(service, "agent", PASSWORD)
    boss = await new_client(aiohttp_client, service)
    await log_in(boss, "supervisor", PASSWORD)

    # The agent sees e-mails, phone numbers and addresses masked: searching them in clear finds nothing.
    for secret in ("ada@example.com", "07700 900123", "12 Acacia Avenue", "acacia"):
        assert await found(service, q=secret, kind="text") == [], secret
    assert await found(boss, q="ada@example.com", kind="text") == [handoff_id]
    assert await found(boss, q="acacia") == [handoff_id]
    # What the agent does see is searchable, and the page shows it masked.
    response = await service.get("/console/search", params={"q": "where is 55556"})
    page = await response.text()
    assert ROW.findall(page) == [handoff_id] and "ada@example.com" not in page


def test_a_policy_between_masks_what_it_masks_and_not_the_rest(service: TestClient) -> None:
    """Phone numbers cleared, everything else masked: the phone is found, the e-mail is not."""
    handoff_id = add(service)
    grants = frozenset({access.PHONE_NUMBERS})
    assert access.mask_kinds(grants) not in (frozenset(), access.mask_kinds(frozenset()))
    engine = service.app[ENGINE]

    assert [r["id"] for r in search.search(engine, SearchQuery("07700 900123"), grants).rows] == [handoff_id]
    assert search.search(engine, SearchQuery("ada@example.com"), grants).rows == []


async def test_status_filters_and_pages_hold_25_newest_first(service: TestClient) -> None:
    ids = [add(service, order=f"4{n:04d}", text="parcel went to the wrong door") for n in range(30)]
    handoffs.claim(service.app[ENGINE], ids[0], agent_id(service, "agent"))
    await log_in(service, "supervisor", PASSWORD)

    first = await found(service, q="wrong door")
    second = await found(service, q="wrong door", page="2")
    assert len(first) == 25 and len(second) == 5 and set(first) | set(second) == set(ids)
    assert first[0] == ids[-1]  # newest first
    assert await found(service, q="wrong door", status="claimed") == [ids[0]]
    assert len(await found(service, status="queued")) == 25  # a status alone lists


async def test_wildcards_are_searched_for_as_characters(service: TestClient) -> None:
    add(service)
    await log_in(service, "supervisor", PASSWORD)
    assert await found(service, q="where%55556") == []  # as LIKE patterns both would match
    assert await found(service, q="where_is") == []
    assert len(await found(service, q="where is")) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"q": "x" * 101},
        {"q": "order\x07"},
        {"q": "a\u202eb"},
        {"q": "a\x00b"},
        {"kind": "sql"},
        {"status": "deleted"},
        {"page": "0"},
        {"page": "401"},
        {"page": "-1"},
        {"page": "1e3"},
    ],
)
async def test_hostile_queries_are_refused_with_a_reason(service: TestClient, params: dict[str, str]) -> None:
    await log_in(service, "agent", PASSWORD)
    response = await service.get("/console/search", params=params)
    assert response.status == 400
    assert (await response.json())["error"] == "invalid_request"


async def test_search_needs_a_login(service: TestClient) -> None:
    response = await service.get("/console/search", params={"q": "55556"}, allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/console/login"


def test_rows_follow_their_handoff_and_are_built_once(service: TestClient) -> None:
    engine = service.app[ENGINE]
    handoff_id = add(service, text="the kettle arrived cracked")
    assert search_index.catch_up_all(engine) == 1
    assert search_index.catch_up_all(engine) == 0  # nothing stale: nothing rebuilt
    agent = agent_id(service, "agent")
    handoffs.claim(engine, handoff_id, agent)
    handoffs.resolve(engine, handoff_id, agent)
    handoffs.keep_human_part(
        engine, handoff_id, agent, [{"speaker": "agent", "text": "A new kettle ships today"}]
    )

    grants = frozenset({access.UNMASKED_TRANSCRIPTS, access.PHONE_NUMBERS})
    rows = search.search(engine, SearchQuery("new kettle ships", status="resolved"), grants).rows
    assert [r["id"] for r in rows] == [handoff_id]
