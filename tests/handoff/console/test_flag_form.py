"""The "flag a wrong reading" form preselects no emotion: the agent must choose one."""

import re

from aiohttp.test_utils import TestClient

from tests.support.console import PASSWORD, log_in
from tests.support.handoffs import add_handoff

SELECT = re.compile(r'<select name="label"[^>]*>(.*?)</select>', re.S)


async def test_the_flag_dropdown_starts_at_a_required_placeholder(service: TestClient) -> None:
    handoff_id = await add_handoff(service)
    await log_in(service, "agent", PASSWORD)

    page = await (await service.get(f"/console/handoffs/{handoff_id}")).text()

    selects = SELECT.findall(page)
    assert selects, "no flag form on the page"
    assert all(re.search(r'<select name="label"[^>]*\brequired\b', m.group(0)) for m in SELECT.finditer(page))
    for options in selects:
        first = re.findall(r"<option[^>]*>[^<]*</option>", options)[0]
        assert first == '<option value="" selected>Choose…</option>'
        assert options.count(" selected") == 1


async def test_the_placeholder_posted_anyway_is_refused(service: TestClient) -> None:
    handoff_id = await add_handoff(service)
    token = await log_in(service, "agent", PASSWORD)

    response = await service.post(
        f"/console/handoffs/{handoff_id}/flags", data={"csrf_token": token, "turn": "2", "label": ""}
    )

    assert response.status == 400
    assert "label must be one of" in (await response.json())["detail"]
