"""A resolved handoff keeps the human part of its conversation, who resolved it and when (issue 16)."""

import dataclasses

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.core.settings import Settings
from tests.support.console import PASSWORD, log_in
from tests.support.fake_rasa import FakeRasa
from tests.support.handoffs import add_handoff


@pytest.fixture
async def rasa(aiohttp_server) -> tuple[FakeRasa, str]:
    fake = FakeRasa()
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def service(aiohttp_client, settings: Settings, rasa: tuple[FakeRasa, str]) -> TestClient:
    return await aiohttp_client(
        create_app(
            dataclasses.replace(settings, rasa_url=rasa[1], rasa_token="rasa-token", demo_password=PASSWORD)
        )
    )


CUSTOMER = "it's for my mum, e-mail her at mum@example.com"


async def resolved_with_a_conversation(service: TestClient, fake: FakeRasa) -> str:
    handoff_id = await add_handoff(service)
    token = await log_in(service, "agent", PASSWORD)
    await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})
    fake.events.append({"event": "user", "text": CUSTOMER, "timestamp": 1_765_000_000.0})
    await service.post(
        f"/console/handoffs/{handoff_id}/reply", data={"csrf_token": token, "text": "Done, refund sent."}
    )
    resolved = await service.post(
        f"/console/handoffs/{handoff_id}/resolve",
        data={"csrf_token": token, "disposition": "solved"},
        allow_redirects=False,
    )
    assert resolved.status == 303
    return handoff_id


async def test_the_api_serves_who_resolved_it_when_and_what_was_said_with_the_agent(
    service: TestClient, rasa: tuple[FakeRasa, str]
) -> None:
    fake, _ = rasa
    handoff_id = await resolved_with_a_conversation(service, fake)

    served = await (await service.get(f"/api/v1/handoffs/{handoff_id}")).json()

    resolution = served["resolution"]
    assert served["status"] == "resolved" and resolution["resolved_by"] == "Alex Agent"
    assert resolution["resolved_at"].startswith("20")
    # From the claim to the resolve: the agent's joining, the customer, the agent; not the bot's
    # messages from before, nor its goodbye after.
    assert [(line["speaker"], line["text"]) for line in resolution["transcript"]] == [
        ("bot", "[utter_agent_joined]"),
        ("customer", "it's for my mum, e-mail her at m***@example.com"),  # masked for the API
        ("agent", "[utter_agent_message]"),
    ]
    assert resolution["transcript"][1]["at"] == "2025-12-06T05:46:40+00:00"
    # The bot's part stays where it was: the payload's transcript.
    assert served["payload"]["transcript"][0]["speaker"] == "customer"


async def test_the_console_shows_the_resolution_and_masks_it_as_for_the_role(
    service: TestClient, rasa: tuple[FakeRasa, str]
) -> None:
    fake, _ = rasa
    handoff_id = await resolved_with_a_conversation(service, fake)

    agent_page = await (await service.get(f"/console/handoffs/{handoff_id}")).text()
    await log_in(service, "supervisor", PASSWORD)
    supervisor_page = await (await service.get(f"/console/handoffs/{handoff_id}")).text()

    assert 'id="resolved-by">Alex Agent<' in agent_page and 'id="resolved-at"' in agent_page
    assert 'id="human-transcript"' in agent_page and "m***@example.com" in agent_page
    assert "mum@example.com" not in agent_page
    assert "mum@example.com" in supervisor_page


async def test_a_handoff_still_held_has_no_resolution(service: TestClient) -> None:
    handoff_id = await add_handoff(service)

    served = await (await service.get(f"/api/v1/handoffs/{handoff_id}")).json()

    assert "resolution" not in served


async def test_when_rasa_cannot_give_the_conversation_the_handoff_is_resolved_and_says_it_was_not_kept(
    service: TestClient, rasa: tuple[FakeRasa, str]
) -> None:
    fake, _ = rasa
    fake.tracker_fails = True
    handoff_id = await resolved_with_a_conversation(service, fake)

    served = await (await service.get(f"/api/v1/handoffs/{handoff_id}")).json()
    page = await (await service.get(f"/console/handoffs/{handoff_id}")).text()

    assert served["status"] == "resolved" and served["resolution"]["transcript"] is None
    assert served["resolution"]["resolved_by"] == "Alex Agent"
    assert 'id="human-transcript-missing"' in page


async def test_a_resolution_rasa_undid_keeps_no_resolver(
    service: TestClient, rasa: tuple[FakeRasa, str]
) -> None:
    fake, _ = rasa
    handoff_id = await add_handoff(service)
    token = await log_in(service, "agent", PASSWORD)
    await service.post(f"/console/handoffs/{handoff_id}/claim", data={"csrf_token": token})
    fake.down = True
    await service.post(
        f"/console/handoffs/{handoff_id}/resolve", data={"csrf_token": token, "disposition": "solved"}
    )

    served = await (await service.get(f"/api/v1/handoffs/{handoff_id}")).json()

    assert served["status"] == "claimed" and "resolution" not in served
