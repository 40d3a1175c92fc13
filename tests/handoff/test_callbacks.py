"""Call-back jobs placed with the real twilio client against a Twilio-compatible server on loopback."""

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from twilio.rest import Client

from handoff.callbacks import call_jobs
from handoff.callbacks.call_jobs import TwilioAccount
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.shared.errors import InvalidRequest
from tests.support.handoffs import add_handoff_row
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, LoopbackHttpClient

REAL = TwilioAccount(ACCOUNT_SID, AUTH_TOKEN, "+15005550006", "https://attune.example")
NO_CREDENTIALS = TwilioAccount(None, None, None, "https://attune.example")


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    engine = create_engine_for(url)

    add_handoff_row(engine)
    return engine


@pytest.fixture
async def twilio(aiohttp_server) -> tuple[FakeTwilio, str]:
    fake = FakeTwilio()
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


def client_for(base: str) -> Client:
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=LoopbackHttpClient(base))


async def test_a_call_back_is_placed_once_with_the_right_number_and_urls(
    engine: Engine, twilio: tuple[FakeTwilio, str]
) -> None:
    fake, base = twilio
    job = call_jobs.request_call(engine, "h1", "07911 123456", key="callback-h1")

    placed = await asyncio.to_thread(call_jobs.place_call, engine, job.id, REAL, lambda: client_for(base))
    again = await asyncio.to_thread(call_jobs.place_call, engine, job.id, REAL, lambda: client_for(base))

    assert placed.status == "queued" and placed.twilio_sid and placed.twilio_sid.startswith("CA")
    assert again == placed
    assert len(fake.calls) == 1
    sent = fake.calls[0]
    assert sent["To"] == "+447911123456" and sent["From"] == "+15005550006"
    assert sent["Url"] == f"https://attune.example/twilio/twiml/{job.id}"
    assert sent["StatusCallback"] == f"https://attune.example/twilio/status/{job.id}"


async def test_without_credentials_nothing_is_called_and_the_request_is_recorded(
    engine: Engine, twilio: tuple[FakeTwilio, str]
) -> None:
    fake, base = twilio
    job = call_jobs.request_call(engine, "h1", "+447911123456", key="callback-sim")

    placed = call_jobs.place_call(engine, job.id, NO_CREDENTIALS, lambda: client_for(base))

    assert placed.status == "simulated"
    assert placed.request is not None and placed.request["to"] == "+447911123456"
    assert fake.calls == []


async def test_a_twilio_error_is_recorded_and_not_retried(
    engine: Engine, twilio: tuple[FakeTwilio, str]
) -> None:
    fake, base = twilio
    fake.scripted.append(500)
    job = call_jobs.request_call(engine, "h1", "+447911123456", key="callback-500")

    placed = await asyncio.to_thread(call_jobs.place_call, engine, job.id, REAL, lambda: client_for(base))

    assert placed.status == "error" and "500" in (placed.last_error or "")
    assert len(fake.calls) == 1  # Twilio's client must not re-send the POST


async def test_wrong_credentials_are_an_error_with_twilios_code(
    engine: Engine, twilio: tuple[FakeTwilio, str]
) -> None:
    _, base = twilio
    job = call_jobs.request_call(engine, "h1", "+447911123456", key="callback-auth")
    wrong = Client(ACCOUNT_SID, "wrong-token", http_client=LoopbackHttpClient(base))

    placed = await asyncio.to_thread(call_jobs.place_call, engine, job.id, REAL, lambda: wrong)

    assert placed.status == "error" and "20003" in (placed.last_error or "")


def test_numbers_are_checked_and_one_key_is_one_job(engine: Engine) -> None:
    with pytest.raises(InvalidRequest, match="phone number"):
        call_jobs.request_call(engine, "h1", "call me maybe", key="callback-bad")
    first = call_jobs.request_call(engine, "h1", "+447911123456", key="callback-same")
    again = call_jobs.request_call(engine, "h1", "+447911123456", key="callback-same")
    assert first.id == again.id
