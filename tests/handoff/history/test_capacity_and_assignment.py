"""H19b's leftovers: no claim past an agent's capacity (409 with the reason), and a supervisor assigns a
queued handoff to an agent (conditional, audited, the bot paused).
"""

import threading

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.core.app_keys import ENGINE
from handoff.core.models import CLAIMED, QUEUED, AuditEntry, Handoff, HandoffTransfer
from handoff.queue import handoffs
from handoff.shared.errors import Conflict
from handoff.workspace import assignment, presence
from tests.handoff.history.helpers import add, agent_id
from tests.support.console import PASSWORD, log_in, new_client
from tests.support.fake_rasa import FakeRasa


def status_of(service: TestClient, handoff_id: str) -> tuple[str, int | None]:
    with Session(service.app[ENGINE]) as session:
        row = session.get(Handoff, handoff_id)
        return row.status, row.claimed_by


async def test_an_agent_at_capacity_cannot_claim_another(service: TestClient) -> None:
    engine = service.app[ENGINE]
    presence.set_capacity(engine, agent_id(service, "agent"), 1)
    first, second = add(service), add(service)
    token = await log_in(service, "agent", PASSWORD)

    assert (await service.post(f"/console/handoffs/{first}/claim", data={"csrf_token": token})).status == 200
    refused = await service.post(f"/console/handoffs/{second}/claim", data={"csrf_token": token})

    assert refused.status == 409
    assert "capacity is 1" in (await refused.json())["detail"]
    assert status_of(service, second) == (QUEUED, None)


def test_claims_racing_for_one_agent_never_pass_the_capacity(service: TestClient) -> None:
    engine, agent = service.app[ENGINE], agent_id(service, "agent")
    presence.set_capacity(engine, agent, 2)
    ids = [add(service) for _ in range(6)]
    barrier, outcomes = threading.Barrier(len(ids)), []

    def claim(handoff_id: str) -> None:
        barrier.wait()
        try:
            outcomes.append(handoffs.claim(engine, handoff_id, agent)[1])
        except Conflict:
            outcomes.append(False)

    threads = [threading.Thread(target=claim, args=(i,)) for i in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [False] * 4 + [True] * 2
    assert sum(status_of(service, i)[0] == CLAIMED for i in ids) == 2


async def test_a_supervisor_assigns_a_queued_handoff_and_it_is_audited(
    aiohttp_client, service: TestClient, rasa: FakeRasa
) -> None:
    handoff_id = add(service)
    boss = await new_client(aiohttp_client, service)
    token = await log_in(boss, "supervisor", PASSWORD)
    page = await (await boss.get(f"/console/handoffs/{handoff_id}")).text()
    assert 'id="assign-form"' in page

    response = await boss.post(
        f"/console/handoffs/{handoff_id}/assign",
        data={"csrf_token": token, "to": str(agent_id(service, "agent")), "note": "Yours, VIP"},
        allow_redirects=False,
    )

    assert response.status == 303 and response.headers["Location"] == f"/console/handoffs/{handoff_id}"
    assert status_of(service, handoff_id) == (CLAIMED, agent_id(service, "agent"))
    assert any(kind == "events" for kind, _, _ in rasa.calls)  # the bot paused
    with Session(service.app[ENGINE]) as session:
        move = session.execute(
            select(HandoffTransfer).where(HandoffTransfer.handoff_id == handoff_id)
        ).scalar_one()
        kinds = set(session.execute(select(AuditEntry.kind)).scalars())
    assert move.from_agent is None and move.note == "Yours, VIP" and "handoff_assigned" in kinds


async def test_assignment_is_refused_with_a_reason(aiohttp_client, service: TestClient) -> None:
    engine, agent = service.app[ENGINE], agent_id(service, "agent")
    queued, claimed = add(service), add(service)
    handoffs.claim(engine, claimed, agent_id(service, "admin"))
    agent_token = await log_in(service, "agent", PASSWORD)
    boss = await new_client(aiohttp_client, service)
    token = await log_in(boss, "supervisor", PASSWORD)

    async def assign(client: TestClient, csrf: str, handoff_id: str, to: str) -> int:
        url = f"/console/handoffs/{handoff_id}/assign"
        return (await client.post(url, data={"csrf_token": csrf, "to": to}, allow_redirects=False)).status

    assert await assign(service, agent_token, queued, str(agent)) == 403  # an agent's role may not
    assert await assign(boss, "forged", queued, str(agent)) == 403
    assert await assign(boss, token, claimed, str(agent)) == 409  # someone holds it: transfer instead
    assert await assign(boss, token, queued, "abc") == 400
    assert await assign(boss, token, queued, "999999") == 400
    assert await assign(boss, token, "no-such-handoff", str(agent)) == 404
    presence.set_capacity(engine, agent, 0)
    assert await assign(boss, token, queued, str(agent)) == 409  # at capacity
    assert status_of(service, queued) == (QUEUED, None)


async def test_an_assignment_is_undone_when_the_bot_cannot_be_paused(
    aiohttp_client, service: TestClient, rasa: FakeRasa
) -> None:
    handoff_id = add(service)
    rasa.down = True
    boss = await new_client(aiohttp_client, service)
    token = await log_in(boss, "supervisor", PASSWORD)
    response = await boss.post(
        f"/console/handoffs/{handoff_id}/assign",
        data={"csrf_token": token, "to": str(agent_id(service, "agent"))},
        allow_redirects=False,
    )
    assert response.status == 303 and "error=claim_undone" in response.headers["Location"]
    assert status_of(service, handoff_id) == (QUEUED, None)


def test_an_assignment_and_a_claim_racing_have_one_winner(service: TestClient) -> None:
    engine, handoff_id = service.app[ENGINE], add(service)
    agent, boss, admin = (agent_id(service, u) for u in ("agent", "supervisor", "admin"))
    barrier, winners = threading.Barrier(2), []

    def run(action) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        try:
            action()
            winners.append(action)
        except Conflict:
            pass

    threads = [
        threading.Thread(
            target=run, args=(lambda: assignment.assign(engine, handoff_id, boss, agent, None),)
        ),
        threading.Thread(target=run, args=(lambda: handoffs.claim(engine, handoff_id, admin),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1 and status_of(service, handoff_id)[0] == CLAIMED
