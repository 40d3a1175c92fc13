"""The resolved list: newest first, by disposition, agent and date, each row opening the transcript."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from aiohttp.test_utils import TestClient

from handoff.core.app_keys import ENGINE
from handoff.queue import handoffs
from handoff.workspace import dispositions
from handoff.workspace.app_keys import POLICY
from tests.handoff.history.helpers import add, agent_id
from tests.support.console import PASSWORD, log_in

ROW = re.compile(r'<tr data-handoff="([^"]+)"')
DAY = datetime(2026, 3, 10, 12, tzinfo=timezone.utc)


def resolved(service: TestClient, username: str, code: str, at: datetime) -> str:
    engine, handoff_id = service.app[ENGINE], add(service)
    agent = agent_id(service, username)
    handoffs.claim(engine, handoff_id, agent)
    choice = dispositions.chosen(service.app[POLICY], {"disposition": code})
    assert choice is not None
    dispositions.record(engine, handoff_id, agent, choice)
    handoffs.resolve(engine, handoff_id, agent, now=at)
    handoffs.keep_human_part(engine, handoff_id, agent, [{"speaker": "agent", "text": "Sorted, sorry!"}])
    return handoff_id


async def listed(client: TestClient, **params: str) -> list[str]:
    response = await client.get("/console/resolved", params=params)
    assert response.status == 200, await response.text()
    return ROW.findall(await response.text())


async def test_filters_by_disposition_agent_and_day_newest_first(service: TestClient) -> None:
    older = resolved(service, "agent", "solved", DAY - timedelta(days=1))
    newer = resolved(service, "supervisor", "customer_left", DAY)
    add(service)  # still queued: never listed
    await log_in(service, "agent", PASSWORD)

    assert await listed(service) == [newer, older]
    assert await listed(service, disposition="solved") == [older]
    assert await listed(service, agent=str(agent_id(service, "supervisor"))) == [newer]
    assert await listed(service, **{"from": "2026-03-10", "to": "2026-03-10"}) == [newer]
    assert await listed(service, to="2026-03-09") == [older]
    assert await listed(service, to="9999-12-31") == [newer, older]


async def test_each_row_opens_the_whole_conversation_and_its_disposition(service: TestClient) -> None:
    handoff_id = resolved(service, "agent", "refund_or_replacement", DAY)
    await log_in(service, "agent", PASSWORD)
    html = await (await service.get("/console/resolved")).text()
    assert "Refund or replacement arranged" in html and f"/console/handoffs/{handoff_id}#resolution" in html

    handoff_page = await (await service.get(f"/console/handoffs/{handoff_id}")).text()
    assert "Sorted, sorry!" in handoff_page and 'data-code="refund_or_replacement"' in handoff_page


@pytest.mark.parametrize(
    "params",
    [
        {"disposition": "made_up"},
        {"disposition": "SOLVED"},
        {"agent": "abc"},
        {"agent": "1" * 10},
        {"from": "2026-13-01"},
        {"from": "10/03/2026"},
        {"from": "2026-03-11", "to": "2026-03-10"},
        {"to": "2026-03-10\x00"},
        {"page": "0"},
    ],
)
async def test_hostile_filters_are_refused_with_a_reason(service: TestClient, params: dict[str, str]) -> None:
    await log_in(service, "agent", PASSWORD)
    response = await service.get("/console/resolved", params=params)
    assert response.status == 400 and (await response.json())["error"] == "invalid_request"
