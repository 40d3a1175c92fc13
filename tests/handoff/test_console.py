"""The agent console against a local stand-in for Rasa's HTTP API (it records what it is asked)."""

import dataclasses
import json

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.core.settings import Settings
from handoff.queue import wait_watcher
from tests.support.console import PASSWORD, csrf, log_in, new_client
from tests.support.fake_rasa import FakeRasa
from tests.support.handoffs import add_handoff

LISTEN = {"event": "action", "name": "action_listen"}


@pytest.fixture
async def rasa(aiohttp_server) -> tuple[FakeRasa, str]:
    fake = FakeRasa()
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
def console_settings(settings: Settings, rasa: tuple[FakeRasa, str]) -> Settings:
    return dataclasses.replace(settings, rasa_url=rasa[1], rasa_token="rasa-token", demo_password=PASSWORD)


@pytest.fixture
async def service(aiohttp_client, console_settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(console_settings))


async def test_the_queue_needs_a_login(service: TestClient) -> None:
    response = await service.get("/console", allow_redirects=False)

    assert response.status == 303 and response.headers["Location"] == "/console/login"


async def test_wrong_password_and_forged_login_form_are_refused(service: TestClient) -> None:
    page = await (await service.get("/console/login")).text()
    wrong = await service.post(
        "/console/login", data={"username": "agent", "password": "nope", "csrf_token": csrf(page)}
    )
    forged = await service.post(
        "/console/login", data={"username": "agent", "password": PASSWORD, "csrf_token": "x"}
    )

    assert wrong.status == 401 and "Wrong username or password" in await wrong.text()
    assert forged.status == 403


async def test_an_agent_claims_replies_and_resolves_while_the_bot_pauses_and_resumes(
    service: TestClient, rasa: tuple[FakeRasa, str]
) -> None:
    fake, _ = rasa
    handoff_id = await add_handoff(service, priority="high")
    token = await log_in(service, "agent", PASSWORD)

    queue = await (await service.get("/console")).text()
    assert f'data-handoff="{handoff_id}"' in queue and "high" in queue
    page = await (await service.get(f"/console/handoffs/{handoff_id}")).text()
    assert 'id="trajectory"' in page and "no order with that number exists" in page
    assert "Don&#39;t ask for the order number again" in page

    claimed = await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})
    assert 'id="send"' in await claimed.text()
    await service.post(
        f"/console/handoffs/{handoff_id}/reply", data={"csrf_token": token, "text": "Hi, I'm Alex."}
    )
    live = await (await service.get(f"/console/handoffs/{handoff_id}/messages")).json()
    resolved = await service.post(
        f"/console/handoffs/{handoff_id}/resolve", data={"csrf_token": token, "disposition": "solved"}
    )

    assert resolved.status == 200 and f'data-handoff="{handoff_id}"' not in await resolved.text()
    assert fake.calls == [
        ("events", "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f", [{"event": "pause"}]),
        (
            "events",
            "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f",
            [{"event": "slot", "name": "agent_name", "value": "Alex Agent"}],
        ),
        (
            "execute",
            "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f",
            {"name": "utter_agent_joined", "channel": "socketio"},
        ),
        (
            "events",
            "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f",
            [LISTEN],
        ),  # every message the service sends ends the turn
        (
            "events",
            "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f",
            [
                {"event": "slot", "name": "agent_name", "value": "Alex Agent"},
                {"event": "slot", "name": "agent_message", "value": "Hi, I'm Alex."},
            ],  # each reply carries who wrote it
        ),
        (
            "execute",
            "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f",
            {"name": "utter_agent_message", "channel": "socketio"},
        ),
        ("events", "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f", [LISTEN]),
        ("events", "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f", [{"event": "resume"}]),
        (
            "execute",
            "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f",
            {"name": "utter_handback", "channel": "socketio"},
        ),
        (
            "events",
            "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f",
            [
                {"event": "slot", "name": "handoff_status", "value": "resolved"},
                {"event": "slot", "name": "failed_attempts", "value": 0.0},
                LISTEN,
            ],
        ),
    ]
    assert [m["speaker"] for m in live["messages"]] == ["customer", "bot", "bot", "agent"]


async def test_agents_see_personal_data_masked_and_supervisors_do_not(
    aiohttp_client, service: TestClient
) -> None:
    handoff_id = await add_handoff(service)
    await log_in(service, "agent", PASSWORD)
    supervisor = await new_client(aiohttp_client, service)
    await log_in(supervisor, "supervisor", PASSWORD)

    as_agent = await (await service.get(f"/console/handoffs/{handoff_id}")).text()
    as_supervisor = await (await supervisor.get(f"/console/handoffs/{handoff_id}")).text()
    agent_live = await (await service.get(f"/console/handoffs/{handoff_id}/messages")).json()

    assert "ada@example.com" not in as_agent and "a***@example.com" in as_agent
    assert "ada@example.com" in as_supervisor
    assert "ada@example.com" not in json.dumps(agent_live)


async def test_a_claimed_handoff_cannot_be_taken_by_another_agent(
    aiohttp_client, service: TestClient
) -> None:
    handoff_id = await add_handoff(service)
    token = await log_in(service, "agent", PASSWORD)
    other = await new_client(aiohttp_client, service)
    other_token = await log_in(other, "supervisor", PASSWORD)

    await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})
    taken = await other.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": other_token})

    assert taken.status == 409 and "another agent" in (await taken.json())["detail"]


async def test_posts_without_the_csrf_token_are_refused(service: TestClient) -> None:
    handoff_id = await add_handoff(service)
    await log_in(service, "agent", PASSWORD)

    response = await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": "forged"})

    assert response.status == 403


async def test_when_the_bot_cannot_be_paused_the_claim_is_undone(
    service: TestClient, rasa: tuple[FakeRasa, str]
) -> None:
    rasa[0].down = True
    handoff_id = await add_handoff(service)
    token = await log_in(service, "agent", PASSWORD)

    page = await (
        await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})
    ).text()

    assert "could not be paused" in page
    assert 'id="claim"' in page  # back in the queue, claimable


async def test_a_silent_console_loses_its_claim(service: TestClient, console_settings: Settings) -> None:
    from datetime import datetime, timedelta, timezone

    from handoff.core.app_keys import ENGINE
    from handoff.queue import handoffs

    handoff_id = await add_handoff(service)
    token = await log_in(service, "agent", PASSWORD)
    await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})
    engine = service.app[ENGINE]

    later = datetime.now(timezone.utc) + timedelta(seconds=console_settings.claim_timeout_seconds + 1)
    released = handoffs.release_stale_claims(
        engine, timedelta(seconds=console_settings.claim_timeout_seconds), later
    )

    assert released == [handoff_id]
    assert handoffs.get_handoff(engine, handoff_id).status == "queued"


async def test_a_reply_must_not_be_empty(service: TestClient) -> None:
    handoff_id = await add_handoff(service)
    token = await log_in(service, "agent", PASSWORD)
    await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})

    page = await (
        await service.post(f"/console/handoffs/{handoff_id}/reply", data={"csrf_token": token, "text": " "})
    ).text()

    assert "A reply needs 1 to 2000 characters" in page


async def test_a_customer_waiting_too_long_is_told_once_with_their_place(
    service: TestClient, rasa: tuple[FakeRasa, str], console_settings: Settings
) -> None:
    from datetime import datetime, timedelta, timezone

    from handoff.core.app_keys import ENGINE, RASA

    await add_handoff(service)
    engine, client = service.app[ENGINE], service.app[RASA]
    max_wait = timedelta(seconds=console_settings.max_wait_seconds)
    soon = datetime.now(timezone.utc) + timedelta(seconds=30)
    late = datetime.now(timezone.utc) + max_wait + timedelta(seconds=1)

    assert await wait_watcher.notify_overdue(engine, client, max_wait, now=soon) == 0
    assert await wait_watcher.notify_overdue(engine, client, max_wait, now=late) == 1
    assert (
        await wait_watcher.notify_overdue(engine, client, max_wait, now=late + timedelta(minutes=5)) == 0
    )  # told once

    assert rasa[0].calls == [
        (
            "events",
            "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f",
            [{"event": "slot", "name": "queue_position", "value": "1"}],
        ),
        (
            "execute",
            "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f",
            {"name": "utter_wait_too_long", "channel": "socketio"},
        ),
        ("events", "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f", [LISTEN]),
    ]


async def test_a_simulated_call_back_is_labelled_and_the_number_masked_for_agents(
    aiohttp_client, service: TestClient
) -> None:
    handoff_id = await add_handoff(service)
    first = await service.post(f"/api/v1/handoffs/{handoff_id}/callbacks", json={"to": "07911 123456"})
    again = await service.post(f"/api/v1/handoffs/{handoff_id}/callbacks", json={"to": "07911 123456"})
    bad = await service.post(
        f"/api/v1/handoffs/{handoff_id}/callbacks", json={"to": "call me", "idempotency_key": "x" * 8}
    )

    created = await first.json()
    assert first.status == 201 and created["status"] == "simulated" and created["simulated"] is True
    assert again.status == 200 and (await again.json())["id"] == created["id"]
    assert bad.status == 400 and "phone number" in (await bad.json())["detail"]

    await log_in(service, "agent", PASSWORD)
    as_agent = await (await service.get(f"/console/handoffs/{handoff_id}")).text()
    supervisor = await new_client(aiohttp_client, service)
    await log_in(supervisor, "supervisor", PASSWORD)
    as_supervisor = await (await supervisor.get(f"/console/handoffs/{handoff_id}")).text()

    assert "Simulated mode: Twilio is not configured, so nobody is called" in as_agent
    assert "+447911123456" not in as_agent and "••••56" in as_agent
    assert "+447911123456" in as_supervisor


async def test_a_handoff_from_before_namespacing_is_never_sent_to_the_latest_channel(
    service: TestClient, rasa: tuple[FakeRasa, str], console_settings: Settings
) -> None:
    from datetime import datetime, timedelta, timezone

    from handoff.core.app_keys import ENGINE, RASA

    handoff_id = await add_handoff(service, conversation_id="+447700900123")  # names no channel
    engine, client = service.app[ENGINE], service.app[RASA]
    max_wait = timedelta(seconds=console_settings.max_wait_seconds)
    late = datetime.now(timezone.utc) + max_wait + timedelta(seconds=1)
    token = await log_in(service, "agent", PASSWORD)

    told = await wait_watcher.notify_overdue(engine, client, max_wait, now=late)
    again = await wait_watcher.notify_overdue(engine, client, max_wait, now=late + timedelta(minutes=5))
    claimed = await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})

    assert (told, again) == (0, 0)  # set aside after one try, not retried every pass
    assert "could not be paused" in await claimed.text()
    assert rasa[0].calls == []  # not even paused: nobody could answer the customer


# --- claims and resolutions: the row first, Rasa after, and only that one undone ---------------
def holder(service: TestClient, handoff_id: str) -> tuple[str, int | None]:
    from handoff.core.app_keys import ENGINE
    from handoff.queue import handoffs

    stored = handoffs.get_handoff(service.app[ENGINE], handoff_id)
    return stored.status, stored.claimed_by


async def test_resolving_a_handoff_another_agent_holds_is_refused_before_rasa_hears_of_it(
    aiohttp_client, service: TestClient, rasa: tuple[FakeRasa, str]
) -> None:
    handoff_id = await add_handoff(service)
    token = await log_in(service, "agent", PASSWORD)
    await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})
    claimed = holder(service, handoff_id)
    rasa[0].calls.clear()
    other = await new_client(aiohttp_client, service)
    other_token = await log_in(other, "supervisor", PASSWORD)

    response = await other.post(
        f"/console/handoffs/{handoff_id}/resolve",
        data={"csrf_token": other_token, "disposition": "solved"},
        allow_redirects=False,
    )

    assert response.status == 409
    assert rasa[0].calls == []  # not resumed: the customer is not told "you're back with Pip"
    assert holder(service, handoff_id) == claimed and claimed[0] == "claimed"


async def test_a_failed_claim_leaves_other_agents_claims_alone(
    aiohttp_client, service: TestClient, rasa: tuple[FakeRasa, str]
) -> None:
    mine, theirs = await add_handoff(service), await add_handoff(service, idempotency_key="second-handoff-1")
    token = await log_in(service, "agent", PASSWORD)
    await service.post(f"/console/handoffs/{mine}/claim", data={"csrf_token": token})
    other = await new_client(aiohttp_client, service)
    other_token = await log_in(other, "supervisor", PASSWORD)
    rasa[0].down = True

    page = await (
        await other.post(f"/console/handoffs/{theirs}/claim", data={"csrf_token": other_token})
    ).text()

    assert "could not be paused" in page
    assert holder(service, theirs) == ("queued", None)
    assert holder(service, mine)[0] == "claimed"  # the agent who holds it still does


async def test_a_claim_whose_greeting_fails_resumes_the_bot_it_paused(
    service: TestClient, rasa: tuple[FakeRasa, str]
) -> None:
    fake = rasa[0]
    fake.execute_fails = True  # e.g. the SMS output could not send the "agent joined" message
    handoff_id = await add_handoff(service)
    token = await log_in(service, "agent", PASSWORD)

    page = await (
        await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})
    ).text()

    assert "could not be paused" in page and holder(service, handoff_id) == ("queued", None)
    events = [body for kind, _, body in fake.calls if kind == "events"]
    assert events[0] == [{"event": "pause"}] and events[-1] == [{"event": "resume"}]


async def test_claiming_a_handoff_one_already_holds_sends_nothing_again(
    service: TestClient, rasa: tuple[FakeRasa, str]
) -> None:
    handoff_id = await add_handoff(service)
    token = await log_in(service, "agent", PASSWORD)
    await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})
    sent = len(rasa[0].calls)

    again = await service.post(
        f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token}, allow_redirects=False
    )

    assert again.status == 303 and len(rasa[0].calls) == sent  # no second "X has joined"


async def test_when_the_bot_cannot_be_resumed_the_handoff_stays_with_its_agent(
    service: TestClient, rasa: tuple[FakeRasa, str]
) -> None:
    handoff_id = await add_handoff(service)
    token = await log_in(service, "agent", PASSWORD)
    await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})
    rasa[0].down = True

    page = await (
        await service.post(
            f"/console/handoffs/{handoff_id}/resolve", data={"csrf_token": token, "disposition": "solved"}
        )
    ).text()

    assert "could not be resumed" in page
    assert holder(service, handoff_id)[0] == "claimed"
