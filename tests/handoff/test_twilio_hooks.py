"""Twilio's call-back webhooks: signed requests are served, missing or forged signatures get 403."""

import asyncio
import dataclasses

import pytest
from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from handoff.app import create_app
from handoff.callbacks import call_jobs
from handoff.core.app_keys import ENGINE
from handoff.core.settings import Settings
from tests.support.handoffs import add_handoff_row
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, LoopbackHttpClient

TOKEN = "twilio-auth-token-0000"
PUBLIC = "https://attune.example"


@pytest.fixture
async def service(aiohttp_client, settings: Settings) -> TestClient:
    configured = dataclasses.replace(
        settings, twilio_auth_token=TOKEN, public_url=PUBLIC, agent_phone_line="+441234567890"
    )
    return await aiohttp_client(create_app(configured))


def job_in(service: TestClient) -> str:
    engine = service.app[ENGINE]
    add_handoff_row(engine)
    return call_jobs.request_call(engine, "h1", "+447911123456", key="cb-1").id


def signed(path: str, params: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(PUBLIC + path, params)}


async def placed_job_in(service: TestClient, aiohttp_server) -> call_jobs.CallState:
    """A job whose call the (fake) Twilio accepted, as status callbacks only come for placed calls."""
    fake = FakeTwilio()
    server = await aiohttp_server(fake.app())
    account = call_jobs.TwilioAccount(ACCOUNT_SID, AUTH_TOKEN, "+15005550006", PUBLIC)
    engine = service.app[ENGINE]
    return await asyncio.to_thread(
        call_jobs.place_call,
        engine,
        job_in(service),
        account,
        lambda: Client(ACCOUNT_SID, AUTH_TOKEN, http_client=LoopbackHttpClient(str(server.make_url("")))),
    )


async def test_a_signed_status_callback_updates_the_call(service: TestClient, aiohttp_server) -> None:
    job = await placed_job_in(service, aiohttp_server)
    path = f"/twilio/status/{job.id}"
    params = {"CallSid": str(job.twilio_sid), "CallStatus": "completed"}

    response = await service.post(path, data=params, headers=signed(path, params))

    assert response.status == 204
    state = call_jobs.get_job(service.app[ENGINE], job.id)
    assert (state.status, state.twilio_sid) == ("completed", job.twilio_sid)
    assert [step["status"] for step in state.trail] == ["pending", "placing", "queued", "completed"]


async def test_a_status_for_a_call_never_placed_changes_nothing(service: TestClient) -> None:
    job_id = job_in(service)
    path = f"/twilio/status/{job_id}"
    params = {"CallSid": "CA" + "1" * 32, "CallStatus": "completed"}

    response = await service.post(path, data=params, headers=signed(path, params))

    assert response.status == 204
    assert call_jobs.get_job(service.app[ENGINE], job_id).status == "pending"


async def test_the_twiml_greets_and_connects_to_the_agent_line(service: TestClient) -> None:
    job_id = job_in(service)
    path = f"/twilio/twiml/{job_id}"
    params = {"CallSid": "CA" + "2" * 32}

    response = await service.post(path, data=params, headers=signed(path, params))

    body = await response.text()
    assert response.status == 200 and response.content_type == "text/xml"
    assert "<Dial>+441234567890</Dial>" in body and "Parcelpine" in body


@pytest.mark.parametrize("headers", [{}, {"X-Twilio-Signature": "forged"}], ids=["missing", "forged"])
async def test_unsigned_or_forged_callbacks_are_refused(service: TestClient, headers: dict[str, str]) -> None:
    job_id = job_in(service)

    response = await service.post(
        f"/twilio/status/{job_id}", data={"CallStatus": "completed"}, headers=headers
    )

    assert response.status == 403
    assert call_jobs.get_job(service.app[ENGINE], job_id).status == "pending"


async def test_a_signature_for_other_parameters_is_refused(service: TestClient) -> None:
    job_id = job_in(service)
    path = f"/twilio/status/{job_id}"

    response = await service.post(
        path, data={"CallStatus": "completed"}, headers=signed(path, {"CallStatus": "busy"})
    )

    assert response.status == 403
