"""Customer history: only the same *verified* customer's contacts link, masked for the reader's role."""

import re

from aiohttp.test_utils import TestClient

from handoff.callbacks import call_jobs
from handoff.core.app_keys import ENGINE
from handoff.privacy import customers
from tests.handoff.history.helpers import add, anonymous_customer, verified_customer
from tests.support.console import PASSWORD, log_in, new_client

ROW = re.compile(r'<tr data-handoff="([^"]+)"')


async def page(client: TestClient, handoff_id: str) -> str:
    response = await client.get(f"/console/handoffs/{handoff_id}/history")
    assert response.status == 200, await response.text()
    return await response.text()


async def test_a_verified_customer_sees_their_earlier_handoffs_and_call_backs(service: TestClient) -> None:
    customer = verified_customer(service, "shop-login-41")
    earlier = add(service, pseudonym=customer)
    call_jobs.request_call(service.app[ENGINE], earlier, "+447911123456", f"call-{earlier}")
    someone_else = add(service, pseudonym=verified_customer(service, "shop-login-42"))
    now = add(service, pseudonym=customer)
    await log_in(service, "agent", PASSWORD)

    html = await page(service, now)
    assert ROW.findall(html) == [earlier]
    assert someone_else not in html and 'id="history-calls"' in html and "simulated" not in html
    assert "+447911123456" not in html and "07911" not in html  # numbers are not shown here
    handoff_page = await (await service.get(f"/console/handoffs/{now}")).text()
    assert 'id="earlier-contacts"' in handoff_page and earlier in handoff_page


async def test_a_customer_merged_into_this_one_is_the_same_customer(service: TestClient) -> None:
    kept = verified_customer(service, "login-a")
    removed = verified_customer(service, "login-b")
    before_merge = add(service, pseudonym=removed)
    engine = service.app[ENGINE]
    both = [customers.normalise("id", "login-a"), customers.normalise("id", "login-b")]
    merged = customers.resolve(engine, both, customers.Linking(may_merge=True)).customer
    now = add(service, pseudonym=merged)
    await log_in(service, "agent", PASSWORD)

    assert {kept, removed} >= {merged} and ROW.findall(await page(service, now)) == [before_merge]


async def test_an_unverified_claim_links_nothing(service: TestClient) -> None:
    """A REST sender (client-chosen) and a pseudonym no customer row holds: no history, however many match."""
    sender = anonymous_customer(service, "any-client-can-say-this")
    add(service, pseudonym=sender)
    rest_now = add(service, pseudonym=sender)
    add(service, pseudonym="cust-1234567890abcdef")  # derived from what a customer typed
    typed_now = add(service, pseudonym="cust-1234567890abcdef")
    await log_in(service, "agent", PASSWORD)

    for handoff_id in (rest_now, typed_now):
        html = await page(service, handoff_id)
        assert 'id="unverified"' in html and ROW.findall(html) == []


async def test_earlier_handoffs_are_masked_like_the_handoff_page(aiohttp_client, service: TestClient) -> None:
    customer = verified_customer(service, "login-masks")
    add(service, pseudonym=customer)
    now = add(service, pseudonym=customer)
    await log_in(service, "agent", PASSWORD)
    boss = await new_client(aiohttp_client, service)
    await log_in(boss, "supervisor", PASSWORD)

    agent_view, boss_view = await page(service, now), await page(boss, now)
    assert "ada@example.com" not in agent_view and "Acacia" not in agent_view
    assert "ada@example.com" in boss_view and "12 Acacia Avenue" in boss_view


async def test_unknown_and_hostile_handoff_ids_are_404_and_a_login_is_needed(service: TestClient) -> None:
    assert (await service.get("/console/handoffs/x/history", allow_redirects=False)).status == 303
    await log_in(service, "agent", PASSWORD)
    for handoff_id in ("no-such-handoff", "%00", "a" * 65, "%E2%80%AE"):
        response = await service.get(f"/console/handoffs/{handoff_id}/history")
        assert response.status == 404, handoff_id
