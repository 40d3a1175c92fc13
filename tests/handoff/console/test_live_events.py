"""The live console's streams and fetches (handoff/console/live_views.py) against a stand-in for Rasa."""

import dataclasses

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.core.settings import Settings
from handoff.shared.identity_tokens import issue_session_id
from tests.support.console import PASSWORD, log_in, new_client
from tests.support.fake_rasa import FakeRasa
from tests.support.handoffs import add_handoff
from tests.support.sse import event_of, next_event

AGENT_NAME = "Alex Agent"  # the demo account "agent" (handoff/core/accounts.py)
SUMMARY_WITH_EMAIL = "Customer ada@example.com wants order 55556."


def _stream_paths(handoff_id: str) -> list[str]:
    return ["/console/events", f"/console/handoffs/{handoff_id}/events"]


async def test_a_stream_without_an_agent_session_is_refused_never_opened(service: TestClient) -> None:
    handoff_id = await add_handoff(service)
    for path in _stream_paths(handoff_id):
        response = await service.get(path, allow_redirects=False)
        assert response.status == 401, path
        assert response.content_type == "application/json"
        assert (await response.json())["error"] == "unauthorized"


async def test_a_stream_after_logout_is_refused(service: TestClient) -> None:
    token = await log_in(service, "agent", PASSWORD)
    await service.post("/console/logout", data={"csrf_token": token})

    response = await service.get("/console/events")

    assert response.status == 401


async def test_a_new_handoff_reaches_a_connected_console_masked_for_the_role(service: TestClient) -> None:
    await log_in(service, "agent", PASSWORD)
    async with service.get("/console/events") as stream:
        assert stream.content_type == "text/event-stream"
        snapshot = await next_event(stream)
        assert snapshot.kind == "snapshot" and snapshot.data == {"handoffs": []}

        handoff_id = await add_handoff(service, summary=SUMMARY_WITH_EMAIL)
        arrived = await next_event(stream)

    assert arrived.kind == "queued" and arrived.data["id"] == handoff_id and arrived.data["new"] is True
    assert "ada@example.com" not in arrived.data["summary"] and "55556" in arrived.data["summary"]
    assert arrived.data["url"] == f"/console/handoffs/{handoff_id}"
    assert "claimed_by" not in arrived.data and arrived.data["mine"] is False
    assert arrived.id is not None and arrived.id.split("-")[1].isdigit()


async def test_a_supervisor_sees_the_summary_unmasked(service: TestClient) -> None:
    handoff_id = await add_handoff(service, summary=SUMMARY_WITH_EMAIL)
    await log_in(service, "supervisor", PASSWORD)
    async with service.get("/console/events") as stream:
        snapshot = await next_event(stream)

    assert [row["id"] for row in snapshot.data["handoffs"]] == [handoff_id]
    assert snapshot.data["handoffs"][0]["summary"] == SUMMARY_WITH_EMAIL


async def test_claim_and_resolve_reach_every_console(aiohttp_client, service: TestClient) -> None:
    handoff_id = await add_handoff(service)
    token = await log_in(service, "agent", PASSWORD)
    colleague = await new_client(aiohttp_client, service)
    await log_in(colleague, "supervisor", PASSWORD)
    async with colleague.get("/console/events") as stream:
        await event_of(stream, "snapshot")
        await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})
        claimed = await event_of(stream, "claimed")
        # (with a disposition, which resolving asks for: policy/workspace.yml)
        await service.post(
            f"/console/handoffs/{handoff_id}/resolve", data={"csrf_token": token, "disposition": "solved"}
        )
        closed = await event_of(stream, "closed")

    assert claimed.data["id"] == handoff_id and claimed.data["mine"] is False  # the agent's, not theirs
    assert closed.data == {"id": handoff_id, "status": "resolved"}


async def test_a_reconnect_gets_what_it_missed_and_a_foreign_id_gets_a_snapshot(service: TestClient) -> None:
    await log_in(service, "agent", PASSWORD)
    async with service.get("/console/events") as stream:
        await next_event(stream)
        first = await add_handoff(service)
        seen = await next_event(stream)
    # Nobody listens now: the watcher finds this one when the console is back.
    missed = await add_handoff(service, idempotency_key="missed-while-away-0001")

    async with service.get("/console/events", headers={"Last-Event-ID": seen.id or ""}) as stream:
        resumed = await next_event(stream)
    async with service.get("/console/events", headers={"Last-Event-ID": "another-process-7"}) as stream:
        fresh = await next_event(stream)

    assert seen.data["id"] == first
    assert resumed.kind == "queued" and resumed.data["id"] == missed  # no snapshot: only what it missed
    assert fresh.kind == "snapshot" and {row["id"] for row in fresh.data["handoffs"]} == {first, missed}


async def test_a_second_instance_on_the_same_database_sees_the_new_handoff(
    aiohttp_client, service: TestClient, console_settings: Settings
) -> None:
    other = await aiohttp_client(create_app(dataclasses.replace(console_settings)))
    await log_in(other, "agent", PASSWORD)
    async with other.get("/console/events") as stream:
        await event_of(stream, "snapshot")
        handoff_id = await add_handoff(service)  # accepted by the first instance
        arrived = await event_of(stream, "queued")

    assert arrived.data["id"] == handoff_id


# --- one handoff ------------------------------------------------------------------------------------
async def _claimed(service: TestClient, **changes: object) -> tuple[str, str]:
    handoff_id = await add_handoff(service, **changes)
    token = await log_in(service, "agent", PASSWORD)
    await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})
    return handoff_id, token


async def test_the_handoff_stream_carries_status_and_dated_masked_messages(service: TestClient) -> None:
    handoff_id, _ = await _claimed(service)
    async with service.get(f"/console/handoffs/{handoff_id}/events") as stream:
        status = await event_of(stream, "status")
        messages = await event_of(stream, "messages")

    assert status.data == {"status": "claimed", "mine": True}
    first = messages.data["messages"][0]
    assert first["speaker"] == "customer" and "ada@example.com" not in first["text"]
    assert first["at"] == "1970-01-01T00:00:01+00:00"  # Rasa's epoch seconds, as RFC 3339


async def test_an_unknown_handoff_stream_is_404(service: TestClient) -> None:
    await log_in(service, "agent", PASSWORD)

    response = await service.get("/console/handoffs/no-such-handoff/events")

    assert response.status == 404


async def test_a_reply_by_fetch_is_relayed_and_answered_in_json(
    service: TestClient, rasa: tuple[FakeRasa, str]
) -> None:
    fake, _ = rasa
    handoff_id, token = await _claimed(service)
    async with service.get(f"/console/handoffs/{handoff_id}/events") as stream:
        await event_of(stream, "messages")
        sent = await service.post(
            f"/console/handoffs/{handoff_id}/messages", data={"csrf_token": token, "text": "Hi, I'm Alex."}
        )
        shown = await event_of(stream, "messages")  # at once: the send wakes the stream

    assert sent.status == 200 and await sent.json() == {"sent": True}
    assert any(call[0] == "execute" and call[2]["name"] == "utter_agent_message" for call in fake.calls)
    assert shown.data["messages"][-1]["speaker"] == "agent"


@pytest.mark.parametrize(
    ("text", "status", "code"), [("", 400, "invalid_request"), ("x" * 2001, 400, "invalid_request")]
)
async def test_a_reply_of_the_wrong_length_is_a_400_with_the_reason(
    service: TestClient, text: str, status: int, code: str
) -> None:
    handoff_id, token = await _claimed(service)

    response = await service.post(
        f"/console/handoffs/{handoff_id}/messages", data={"csrf_token": token, "text": text}
    )

    assert response.status == status
    body = await response.json()
    assert body["error"] == code and "1 to 2000 characters" in body["detail"]


async def test_a_reply_needs_the_csrf_token_the_claim_and_a_reachable_assistant(
    service: TestClient, rasa: tuple[FakeRasa, str]
) -> None:
    fake, _ = rasa
    unclaimed = await add_handoff(service, idempotency_key="not-claimed-by-anyone-01")
    handoff_id, token = await _claimed(service)

    forged = await service.post(
        f"/console/handoffs/{handoff_id}/messages", data={"csrf_token": "x", "text": "hi"}
    )
    not_held = await service.post(
        f"/console/handoffs/{unclaimed}/messages", data={"csrf_token": token, "text": "hi"}
    )
    fake.down = True
    unsent = await service.post(
        f"/console/handoffs/{handoff_id}/messages", data={"csrf_token": token, "text": "hi"}
    )

    assert forged.status == 403
    assert not_held.status == 409
    assert unsent.status == 503 and "could not be sent" in (await unsent.json())["detail"]


# --- typing, both ways --------------------------------------------------------------------------------
async def test_typing_reaches_the_agent_and_the_web_chat_customer(
    service: TestClient, console_settings: Settings
) -> None:
    signed = issue_session_id(console_settings.session_key)
    handoff_id, token = await _claimed(service, conversation_id="web:" + signed.split(".")[0])

    async with service.get(f"/console/handoffs/{handoff_id}/events") as agent_stream:
        await event_of(agent_stream, "messages")
        told = await service.post("/chat/typing", json={"session_id": signed})
        customer_typing = await event_of(agent_stream, "typing")
    async with service.get("/chat/events", params={"session_id": signed}) as chat_stream:
        assert chat_stream.status == 200
        shown = await service.post(f"/console/handoffs/{handoff_id}/typing", data={"csrf_token": token})
        agent_typing = await event_of(chat_stream, "typing")

    assert await told.json() == {"shown": True}
    assert customer_typing.data == {"who": "customer", "active": True}
    assert await shown.json() == {"shown": True}
    assert agent_typing.data == {"who": "agent", "name": AGENT_NAME, "active": True}


async def test_sms_shows_no_typing_indicator_and_says_so(service: TestClient) -> None:
    handoff_id, token = await _claimed(service, conversation_id="sms:+447700900123")

    response = await service.post(f"/console/handoffs/{handoff_id}/typing", data={"csrf_token": token})
    page = await (await service.get(f"/console/handoffs/{handoff_id}")).text()

    assert await response.json() == {"shown": False, "reason": "this channel shows no typing indicator"}
    assert "This channel (sms) shows no typing indicator" in page and "data-typing" not in page


@pytest.mark.parametrize(
    ("session_id", "status"),
    [
        (None, 400),
        ("a\x00b", 400),
        ("0" * 32 + "." + "A" * 22, 403),  # the right shape, not signed by this service
        ("x" * 300, 400),
    ],
)
async def test_the_chat_endpoints_refuse_a_session_this_service_did_not_issue(
    service: TestClient, session_id: str | None, status: int
) -> None:
    stream = await service.get(
        "/chat/events", params={} if session_id is None else {"session_id": session_id}
    )
    typing = await service.post("/chat/typing", json={} if session_id is None else {"session_id": session_id})

    assert stream.status == status and stream.content_type == "application/json"
    assert typing.status == status


async def test_only_the_holder_signals_typing(aiohttp_client, service: TestClient) -> None:
    handoff_id, _ = await _claimed(service)
    colleague = await new_client(aiohttp_client, service)
    other_token = await log_in(colleague, "supervisor", PASSWORD)

    response = await colleague.post(
        f"/console/handoffs/{handoff_id}/typing", data={"csrf_token": other_token}
    )

    assert response.status == 409


async def test_the_chat_endpoints_are_rate_limited_per_address(service: TestClient) -> None:
    statuses = [(await service.post("/chat/typing", json={"session_id": "bad"})).status for _ in range(25)]

    assert statuses[0] == 403 and statuses[-1] == 429  # refused, then not even read
