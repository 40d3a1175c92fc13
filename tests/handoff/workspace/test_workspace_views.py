"""The agent workspace through the console, as a browser uses it (aiohttp's test client, a fake Rasa)."""

import json
import threading
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.audit import audit_log
from handoff.core import accounts
from handoff.core.app_keys import ENGINE
from handoff.core.models import Agent, Handoff
from handoff.shared.errors import Conflict
from handoff.workspace import policy, transfers
from handoff.workspace.app_keys import POLICY
from tests.support.console import PASSWORD, log_in, new_client
from tests.support.fake_rasa import FakeRasa
from tests.support.handoffs import add_handoff

NOTE = "Customer is a reseller; check the B2B portal before promising a date"


def agent_id(service: TestClient, username: str) -> int:
    with Session(service.app[ENGINE]) as session:
        return int(session.execute(select(Agent.id).where(Agent.username == username)).scalar_one())


def row(service: TestClient, handoff_id: str) -> Any:
    with Session(service.app[ENGINE]) as session:
        return session.get(Handoff, handoff_id)


async def claimed_by_agent(service: TestClient) -> tuple[str, str]:
    """A handoff the demo agent claimed in ``service``'s browser; (handoff id, CSRF token)."""
    handoff_id = await add_handoff(service)
    token = await log_in(service, "agent", PASSWORD)
    claimed = await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})
    assert claimed.status == 200
    return handoff_id, token


async def second_agent(
    aiohttp_client: Any, service: TestClient, username: str = "bea"
) -> tuple[TestClient, str]:
    accounts.create_agent(service.app[ENGINE], username, username.title() + " Agent", PASSWORD, "agent")
    browser = await new_client(aiohttp_client, service)
    return browser, await log_in(browser, username, PASSWORD)


# --- canned responses --------------------------------------------------------------------------
async def test_a_supervisor_adds_a_response_and_an_agent_inserts_it_filled_from_the_handoff(
    aiohttp_client, service: TestClient
) -> None:
    handoff_id, _ = await claimed_by_agent(service)
    boss = await new_client(aiohttp_client, service)
    boss_token = await log_in(boss, "supervisor", PASSWORD)
    saved = await boss.post(
        "/console/canned",
        data={
            "csrf_token": boss_token,
            "shortcut": "/Found",
            "title": "Order found",
            "body": "Hi {first_name}, order {order_number} is on its way.",
        },
    )
    assert saved.status == 200 and 'name="shortcut" value="found"' in await saved.text()

    found = await (
        await service.get("/console/canned/search", params={"q": "/fo", "handoff": handoff_id})
    ).json()
    everything = await (await service.get("/console/canned/search", params={"q": ""})).json()
    nothing = await (await service.get("/console/canned/search", params={"q": "%"})).json()
    page = await (await service.get(f"/console/handoffs/{handoff_id}")).text()

    assert [(r["shortcut"], r["text"], r["missing"]) for r in found["responses"]] == [
        ("found", "Hi {first_name}, order 55556 is on its way.", ["first_name"])
    ]
    assert len(everything["responses"]) == 1 and nothing["responses"] == []  # % is matched literally
    assert "canned.js" in page and 'data-canned-search="/console/canned/search"' in page


async def test_an_agent_may_use_but_not_edit_canned_responses(service: TestClient) -> None:
    token = await log_in(service, "agent", PASSWORD)
    form = {"csrf_token": token, "shortcut": "hi", "title": "Hi", "body": "Hello"}

    page = await (await service.get("/console/canned")).text()
    created = await service.post("/console/canned", data=form, allow_redirects=False)
    changed = await service.post("/console/canned/1", data=form, allow_redirects=False)

    assert 'id="new-canned"' not in page
    assert (created.status, changed.status) == (403, 403)
    assert (await created.json())["error"] == "forbidden"


async def test_bad_canned_responses_and_searches_are_refused_with_a_reason(service: TestClient) -> None:
    token = await log_in(service, "supervisor", PASSWORD)
    good = {"csrf_token": token, "shortcut": "hi", "title": "Hi", "body": "Hello"}
    await service.post("/console/canned", data=good)

    unknown_slot = await service.post("/console/canned", data={**good, "shortcut": "x", "body": "Hi {name}"})
    taken = await service.post("/console/canned", data=good)
    forged = await service.post("/console/canned", data={**good, "csrf_token": "x", "shortcut": "y"})
    control = await service.get("/console/canned/search", params={"q": "\x1b[2J"})
    long = await service.get("/console/canned/search", params={"q": "a" * 65})
    bad_handoff = await service.get("/console/canned/search", params={"handoff": "\x00" * 3})
    no_response = await service.post("/console/canned/999999", data=good)
    not_a_number = await service.post("/console/canned/abc", data=good)

    assert unknown_slot.status == 400 and "unknown slot {name}" in (await unknown_slot.json())["detail"]
    assert (taken.status, forged.status, control.status, long.status) == (409, 403, 400, 400)
    assert (bad_handoff.status, no_response.status, not_a_number.status) == (404, 404, 404)


async def test_a_supervisor_changes_and_removes_a_response(service: TestClient) -> None:
    token = await log_in(service, "supervisor", PASSWORD)
    await service.post(
        "/console/canned", data={"csrf_token": token, "shortcut": "hi", "title": "Hi", "body": "Hello"}
    )
    canned_id = (await (await service.get("/console/canned/search")).json())["responses"][0]["id"]

    await service.post(
        f"/console/canned/{canned_id}",
        data={"csrf_token": token, "shortcut": "hello", "title": "Hello", "body": "Hello there"},
    )
    changed = (await (await service.get("/console/canned/search")).json())["responses"]
    await service.post(f"/console/canned/{canned_id}", data={"csrf_token": token, "action": "remove"})
    removed = (await (await service.get("/console/canned/search")).json())["responses"]

    assert [(r["shortcut"], r["text"]) for r in changed] == [("hello", "Hello there")]
    assert removed == []


# --- internal notes --------------------------------------------------------------------------------
async def test_a_note_is_shown_to_colleagues_and_never_reaches_the_customer(
    aiohttp_client, service: TestClient, rasa: FakeRasa
) -> None:
    handoff_id, token = await claimed_by_agent(service)
    rasa.calls.clear()

    added = await service.post(
        f"/console/handoffs/{handoff_id}/notes", data={"csrf_token": token, "text": NOTE}
    )
    await service.post(f"/console/handoffs/{handoff_id}/reply", data={"csrf_token": token, "text": "On it."})
    boss = await new_client(aiohttp_client, service)
    await log_in(boss, "supervisor", PASSWORD)
    seen_by_boss = await (await boss.get(f"/console/handoffs/{handoff_id}/notes")).json()
    live = await (await service.get(f"/console/handoffs/{handoff_id}/messages")).json()

    assert added.status == 200 and NOTE in await added.text()
    assert [n["body"] for n in seen_by_boss["notes"]] == [NOTE] and seen_by_boss["notes"][0][
        "author"
    ] == "Alex Agent"
    # What Rasa (and so the customer's channel) heard: the reply only, never the note.
    assert rasa.calls and all(NOTE not in json.dumps(call) for call in rasa.calls)
    assert any("On it." in json.dumps(call) for call in rasa.calls)
    assert all(NOTE not in json.dumps(line) for line in live["messages"])


async def test_when_the_policy_says_so_an_agent_reads_only_their_own_notes(
    aiohttp_client, service: TestClient
) -> None:
    shipped = service.app[POLICY]
    service.app[POLICY] = policy.WorkspacePolicy(
        shipped.dispositions, {**shipped.roles, policy.READ_OTHERS_NOTES: frozenset({"supervisor", "admin"})}
    )
    handoff_id, token = await claimed_by_agent(service)
    await service.post(f"/console/handoffs/{handoff_id}/notes", data={"csrf_token": token, "text": NOTE})
    bea, bea_token = await second_agent(aiohttp_client, service)
    await bea.post(
        f"/console/handoffs/{handoff_id}/notes", data={"csrf_token": bea_token, "text": "Bea's own note"}
    )
    boss = await new_client(aiohttp_client, service)
    await log_in(boss, "supervisor", PASSWORD)

    bea_sees = await (await bea.get(f"/console/handoffs/{handoff_id}/notes")).json()
    bea_page = await (await bea.get(f"/console/handoffs/{handoff_id}")).text()
    boss_sees = await (await boss.get(f"/console/handoffs/{handoff_id}/notes")).json()

    assert [n["body"] for n in bea_sees["notes"]] == ["Bea's own note"] and bea_sees["own_only"]
    assert NOTE not in bea_page and "Bea&#39;s own note" in bea_page
    assert [n["body"] for n in boss_sees["notes"]] == [NOTE, "Bea's own note"]


async def test_bad_notes_are_refused_with_a_reason(service: TestClient) -> None:
    handoff_id, token = await claimed_by_agent(service)

    empty = await service.post(
        f"/console/handoffs/{handoff_id}/notes", data={"csrf_token": token, "text": " "}
    )
    long = await service.post(
        f"/console/handoffs/{handoff_id}/notes", data={"csrf_token": token, "text": "x" * 2001}
    )
    control = await service.post(
        f"/console/handoffs/{handoff_id}/notes", data={"csrf_token": token, "text": "a\x1bb"}
    )
    unknown = await service.post(
        "/console/handoffs/no-such-handoff/notes", data={"csrf_token": token, "text": "hi"}
    )
    forged = await service.post(
        f"/console/handoffs/{handoff_id}/notes", data={"csrf_token": "x", "text": "hi"}
    )

    assert [r.status for r in (empty, long, control, unknown, forged)] == [400, 400, 400, 404, 403]
    assert "at most 2000" in (await long.json())["detail"]


# --- transfer -------------------------------------------------------------------------------------
async def test_the_holder_transfers_to_a_colleague_with_a_note_audited_and_the_customer_told(
    aiohttp_client, service: TestClient, rasa: FakeRasa
) -> None:
    handoff_id, token = await claimed_by_agent(service)
    bea, _ = await second_agent(aiohttp_client, service)
    rasa.calls.clear()

    moved = await service.post(
        f"/console/handoffs/{handoff_id}/transfer",
        data={
            "csrf_token": token,
            "to": str(agent_id(service, "bea")),
            "note": "Refund approved, please send it",
        },
        allow_redirects=False,
    )
    page = await (await bea.get(f"/console/handoffs/{handoff_id}")).text()
    entries = audit_log.for_conversation(service.app[ENGINE], row(service, handoff_id).conversation_id)

    assert moved.status == 303 and moved.headers["Location"] == "/console"
    assert row(service, handoff_id).claimed_by == agent_id(service, "bea")
    assert 'id="reply-text"' in page and "Refund approved, please send it" in page  # Bea may reply now
    transferred = [e for e in entries if e.entry.kind == transfers.AUDIT_KIND]
    assert len(transferred) == 1 and transferred[0].entry.inputs["to"] == "bea"
    assert "Refund approved" not in json.dumps(transferred[0].entry.inputs)
    assert [c[2]["name"] for c in rasa.calls if c[0] == "execute"] == ["utter_agent_joined"]


async def test_transfers_to_unknown_or_disabled_agents_or_by_someone_not_holding_it_are_refused(
    aiohttp_client, service: TestClient
) -> None:
    handoff_id, token = await claimed_by_agent(service)
    bea, bea_token = await second_agent(aiohttp_client, service)
    engine = service.app[ENGINE]
    accounts.create_agent(engine, "gone", "Gone Agent", PASSWORD, "agent")
    with Session(engine) as session, session.begin():
        session.get(Agent, agent_id(service, "gone")).disabled_at = row(service, handoff_id).created_at

    async def to(client: TestClient, csrf: str, target: str) -> int:
        url = f"/console/handoffs/{handoff_id}/transfer"
        return (await client.post(url, data={"csrf_token": csrf, "to": target}, allow_redirects=False)).status

    statuses = [
        await to(service, token, "999999"),
        await to(service, token, str(agent_id(service, "gone"))),
        await to(service, token, "bea"),
        await to(service, token, str(agent_id(service, "agent"))),  # already theirs
        await to(bea, bea_token, str(agent_id(service, "bea"))),  # Bea does not hold it
    ]

    assert statuses == [400, 400, 400, 409, 409]
    assert row(service, handoff_id).claimed_by == agent_id(service, "agent")
    assert await to(service, token, str(agent_id(service, "supervisor"))) == 303


async def test_a_supervisor_may_reassign_a_handoff_another_agent_holds(
    aiohttp_client, service: TestClient
) -> None:
    handoff_id, _ = await claimed_by_agent(service)
    await second_agent(aiohttp_client, service)
    boss = await new_client(aiohttp_client, service)
    boss_token = await log_in(boss, "supervisor", PASSWORD)

    moved = await boss.post(
        f"/console/handoffs/{handoff_id}/transfer",
        data={"csrf_token": boss_token, "to": str(agent_id(service, "bea"))},
        allow_redirects=False,
    )

    assert moved.status == 303 and row(service, handoff_id).claimed_by == agent_id(service, "bea")


async def test_two_transfers_racing_for_one_handoff_have_exactly_one_winner(
    aiohttp_client, service: TestClient
) -> None:
    handoff_id, _ = await claimed_by_agent(service)
    engine = service.app[ENGINE]
    holder = agent_id(service, "agent")
    targets = []
    for name in ("bea", "cal"):
        accounts.create_agent(engine, name, name.title(), PASSWORD, "agent")
        targets.append(agent_id(service, name))
    start, outcomes = threading.Barrier(2), []

    def move(target: int) -> None:
        start.wait()
        try:
            transfers.transfer(engine, handoff_id, holder, target, None, may_reassign=False)
            outcomes.append(("moved", target))
        except Conflict:
            outcomes.append(("refused", target))

    threads = [threading.Thread(target=move, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    winners = [target for outcome, target in outcomes if outcome == "moved"]
    assert len(outcomes) == 2 and len(winners) == 1
    assert row(service, handoff_id).claimed_by == winners[0]
    assert len(transfers.history(engine, handoff_id)) == 1


# --- disposition ------------------------------------------------------------------------------------
async def test_resolving_needs_a_configured_reason_which_the_resolved_view_shows(
    service: TestClient, rasa: FakeRasa
) -> None:
    handoff_id, token = await claimed_by_agent(service)
    url = f"/console/handoffs/{handoff_id}/resolve"
    rasa.calls.clear()

    missing = await service.post(url, data={"csrf_token": token}, allow_redirects=False)
    unknown = await service.post(
        url, data={"csrf_token": token, "disposition": "made_up"}, allow_redirects=False
    )
    untouched = (row(service, handoff_id).status, list(rasa.calls))
    long_note = await service.post(
        url, data={"csrf_token": token, "disposition": "solved", "disposition_note": "x" * 501}
    )
    resolved = await service.post(
        url,
        data={"csrf_token": token, "disposition": "order_located", "disposition_note": "Courier had it"},
        allow_redirects=False,
    )
    page = await (await service.get(f"/console/handoffs/{handoff_id}")).text()

    assert missing.status == unknown.status == 303 and "error=disposition" in missing.headers["Location"]
    assert untouched == ("claimed", [])  # nothing resolved, the bot not resumed
    assert long_note.status == 400
    assert resolved.status == 303 and row(service, handoff_id).disposition == "order_located"
    assert 'data-code="order_located"' in page and "Order located, customer updated" in page
    assert "Courier had it" in page


async def test_a_resolve_form_offers_the_configured_reasons(service: TestClient) -> None:
    handoff_id, _ = await claimed_by_agent(service)

    page = await (await service.get(f"/console/handoffs/{handoff_id}")).text()

    codes = [d.code for d in service.app[POLICY].dispositions]
    assert 'id="disposition" name="disposition" required' in page
    assert all(f'<option value="{code}">' in page for code in codes)


# --- presence and capacity ----------------------------------------------------------------------------
async def test_someone_online_means_online_with_free_capacity_and_the_api_reports_it(
    aiohttp_client, service: TestClient
) -> None:
    engine = service.app[ENGINE]
    token = await log_in(service, "agent", PASSWORD)

    assert accounts.agents_online(engine) == 1
    await service.post("/console/presence", data={"csrf_token": token, "presence": "away"})
    away = accounts.agents_online(engine)
    created = await (await service.post("/api/v1/handoffs", json=_payload("away-1"))).json()
    await service.post("/console/presence", data={"csrf_token": token, "presence": "online"})
    boss = await new_client(aiohttp_client, service)
    boss_token = await log_in(boss, "supervisor", PASSWORD)
    await boss.post("/console/presence", data={"csrf_token": boss_token, "presence": "offline"})
    await boss.post(
        f"/console/agents/{agent_id(service, 'agent')}/capacity",
        data={"csrf_token": boss_token, "capacity": "1"},
    )
    free = accounts.agents_online(engine)
    await service.post(f"/console/handoffs/{created['id']}/claim", data={"csrf_token": token})
    full = accounts.agents_online(engine)
    team = await (await service.get("/console/team.json")).json()

    assert (away, created["agents_online"], free, full) == (0, 0, 1, 0)
    mine = next(a for a in team["agents"] if a["username"] == "agent")
    assert (mine["load"], mine["capacity"], mine["available"], team["available"]) == (1, 1, False, 0)


async def test_presence_and_capacity_refuse_bad_values_and_agents_cannot_set_capacity(
    service: TestClient,
) -> None:
    token = await log_in(service, "agent", PASSWORD)
    me = agent_id(service, "agent")

    bad_presence = await service.post("/console/presence", data={"csrf_token": token, "presence": "busy'"})
    not_allowed = await service.post(
        f"/console/agents/{me}/capacity", data={"csrf_token": token, "capacity": "9"}
    )
    forged = await service.post("/console/presence", data={"csrf_token": "x", "presence": "away"})

    assert (bad_presence.status, not_allowed.status, forged.status) == (400, 403, 403)


async def test_a_supervisor_sets_capacity_within_bounds_of_active_agents_only(service: TestClient) -> None:
    token = await log_in(service, "supervisor", PASSWORD)
    me = agent_id(service, "agent")

    async def capacity(target: object, value: str) -> int:
        url = f"/console/agents/{target}/capacity"
        return (
            await service.post(url, data={"csrf_token": token, "capacity": value}, allow_redirects=False)
        ).status

    statuses = [
        await capacity(me, "51"),
        await capacity(me, "-1"),
        await capacity(me, "x"),
        await capacity(999999, "2"),
    ]
    page = await (await service.get("/console/team")).text()

    assert statuses == [400, 400, 400, 404]
    assert await capacity(me, "0") == 303 and 'aria-label="capacity of Alex Agent"' in page


def _payload(key: str) -> dict[str, Any]:
    from handoff.shared.schema_file import EXAMPLE_FILE

    return {**json.loads(EXAMPLE_FILE.read_text()), "idempotency_key": f"workspace-{key}"}
