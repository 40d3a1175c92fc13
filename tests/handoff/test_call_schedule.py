"""Call-backs over time: one retry after busy / no answer, windows, the daily limit, notices, restarts.

The real twilio client talks to the Twilio-compatible fake on loopback; time is passed in as ``now``.
"""

import asyncio
import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import Engine
from twilio.rest import Client

from handoff.callbacks import call_jobs, call_runner
from handoff.callbacks.call_jobs import CallPolicy, TwilioAccount
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.rasa_client import RasaClient
from handoff.queue import handoffs
from handoff.shared.errors import InvalidRequest
from handoff.shared.schema_file import EXAMPLE_FILE
from handoff.shared.twilio_http import TwilioHttp
from tests.support.fake_rasa import FakeRasa
from tests.support.handoffs import add_handoff_row
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, LoopbackHttpClient

ACCOUNT = TwilioAccount(ACCOUNT_SID, AUTH_TOKEN, "+15005550006", "https://attune.example")
POLICY = CallPolicy(daily_limit=3, retry_after=timedelta(minutes=5))
T0 = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)
NUMBER = "+447911123456"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(url)
    engine = create_engine_for(url)
    add_handoff_row(engine)
    return engine


@pytest.fixture
async def twilio(aiohttp_server) -> tuple[FakeTwilio, Any]:
    fake = FakeTwilio()
    server = await aiohttp_server(fake.app())
    base = str(server.make_url("")).rstrip("/")
    return fake, lambda: Client(ACCOUNT_SID, AUTH_TOKEN, http_client=LoopbackHttpClient(base))


def place(engine: Engine, job_id: str, make_client: Any, now: datetime) -> call_jobs.CallState:
    return call_jobs.place_call(engine, job_id, ACCOUNT, make_client, POLICY, now=now)


def report(engine: Engine, job: call_jobs.CallState, status: str, now: datetime) -> call_jobs.CallState:
    return call_jobs.record_status(engine, job.id, status, job.twilio_sid, POLICY, now=now)


async def test_no_answer_is_retried_exactly_once_then_the_customer_is_owed_a_notice(
    engine: Engine, twilio: tuple[FakeTwilio, Any]
) -> None:
    fake, make_client = twilio
    job = call_jobs.request_call(engine, "h1", NUMBER, key="cb", policy=POLICY, now=T0)

    first = await asyncio.to_thread(place, engine, job.id, make_client, T0)
    after_first = report(engine, first, "no-answer", T0 + timedelta(seconds=40))
    early = call_jobs.due_jobs(engine, T0 + timedelta(minutes=2))
    due = call_jobs.due_jobs(engine, T0 + timedelta(minutes=6))
    second = await asyncio.to_thread(place, engine, job.id, make_client, T0 + timedelta(minutes=6))
    final = report(engine, second, "no-answer", T0 + timedelta(minutes=7))

    assert after_first.status == "pending" and after_first.notice is None
    assert early == [] and due == [job.id]
    assert len(fake.calls) == 2
    assert (final.status, final.attempts, final.notice) == ("no-answer", 2, "missed")
    assert call_jobs.due_jobs(engine, T0 + timedelta(days=1)) == []


async def test_no_retry_falls_outside_the_window_the_customer_chose(
    engine: Engine, twilio: tuple[FakeTwilio, Any]
) -> None:
    _, make_client = twilio
    with call_jobs.Session(engine) as session, session.begin():
        call_jobs.new_job(
            session, "h1", NUMBER, "cb-window", POLICY, window_end=T0 + timedelta(minutes=3), now=T0
        )
    job_id = call_jobs.due_jobs(engine, T0)[0]

    placed = await asyncio.to_thread(place, engine, job_id, make_client, T0)
    final = report(engine, placed, "busy", T0 + timedelta(minutes=1))

    assert (final.status, final.attempts, final.notice) == ("busy", 1, "missed")


async def test_a_window_in_the_future_is_not_due_until_it_starts(engine: Engine) -> None:
    start = T0 + timedelta(hours=3)
    with call_jobs.Session(engine) as session, session.begin():
        call_jobs.new_job(session, "h1", NUMBER, "cb-later", POLICY, not_before=start, now=T0)

    assert call_jobs.due_jobs(engine, T0 + timedelta(hours=2)) == []
    assert len(call_jobs.due_jobs(engine, start)) == 1


async def test_statuses_out_of_order_or_from_an_earlier_call_do_not_move_the_job_back(
    engine: Engine, twilio: tuple[FakeTwilio, Any]
) -> None:
    _, make_client = twilio
    job = call_jobs.request_call(engine, "h1", NUMBER, key="cb", policy=POLICY, now=T0)
    placed = await asyncio.to_thread(place, engine, job.id, make_client, T0)

    report(engine, placed, "completed", T0 + timedelta(minutes=3))
    late = report(engine, placed, "ringing", T0 + timedelta(minutes=4))
    other = call_jobs.record_status(engine, job.id, "busy", "CA" + "f" * 32, POLICY, now=T0)

    assert late.status == "completed" and other.status == "completed" and other.notice is None
    assert "earlier call" in other.trail[-1]["detail"]


async def test_too_many_requests_is_tried_once_more_later_and_other_errors_are_owed_a_notice(
    engine: Engine, twilio: tuple[FakeTwilio, Any]
) -> None:
    fake, make_client = twilio
    fake.scripted.extend([429, 429])
    job = call_jobs.request_call(engine, "h1", NUMBER, key="cb", policy=POLICY, now=T0)

    first = await asyncio.to_thread(place, engine, job.id, make_client, T0)
    second = await asyncio.to_thread(place, engine, job.id, make_client, T0 + timedelta(minutes=5))

    assert first.status == "pending" and first.next_attempt_at == T0 + timedelta(minutes=5)
    assert second.status == "error" and second.notice == "error" and "429" in (second.last_error or "")
    assert len(fake.calls) == 2


def test_the_daily_limit_counts_per_customer_and_per_number(engine: Engine) -> None:
    def job(key: str, number: str, customer: str, now: datetime) -> str:
        with call_jobs.Session(engine) as session, session.begin():
            return str(
                call_jobs.new_job(session, "h1", number, key, POLICY, customer=customer, now=now).status
            )

    yesterday = T0 - timedelta(hours=25)
    assert job("old", NUMBER, "c1", yesterday) == "pending"  # more than 24 hours ago: not counted
    assert [job(f"k{n}", NUMBER, "c1", T0) for n in range(3)] == ["pending"] * 3
    assert job("k3", NUMBER, "c1", T0) == "rate_limited"
    assert job("k4", "+447911123457", "c1", T0) == "rate_limited"  # same customer, other number
    assert job("k5", NUMBER, "c2", T0) == "rate_limited"  # same number, other customer
    assert job("k6", "+447911123457", "c2", T0) == "pending"
    assert all(  # rate-limited jobs are never due
        call_jobs.get_job(engine, j).status != "rate_limited" for j in call_jobs.due_jobs(engine, T0)
    )


def test_a_job_left_placing_by_a_stop_is_marked_unknown_and_never_placed_again(engine: Engine) -> None:
    job = call_jobs.request_call(engine, "h1", NUMBER, key="cb", policy=POLICY, now=T0)
    with call_jobs.Session(engine) as session, session.begin():
        row = session.get(call_jobs.CallJob, job.id)
        row.status = "placing"

    assert call_jobs.interrupt_stale(engine, timedelta(minutes=2), now=datetime.now(timezone.utc)) == 0
    later = datetime.now(timezone.utc) + timedelta(minutes=3)
    assert call_jobs.interrupt_stale(engine, timedelta(minutes=2), now=later) == 1
    assert call_jobs.get_job(engine, job.id).status == "unknown"
    assert call_jobs.due_jobs(engine, later) == []


def payload_with_callback(phone: str, window: dict[str, str] | None) -> dict[str, Any]:
    payload = copy.deepcopy(json.loads(EXAMPLE_FILE.read_text()))
    payload["callback"] = {
        "requested": True,
        "phone_masked": "••••" + phone[-2:],
        "phone": phone,
        "consent_at": T0.isoformat(),
        "window": window,
        "timezone": "Europe/London",
    }
    return payload


def test_a_handoff_with_a_call_back_stores_the_job_but_not_the_number(engine: Engine) -> None:
    window = {"start": "2036-11-25T14:00:00+00:00", "end": "2036-11-25T16:00:00Z", "label": "today 2-4pm"}

    stored, created = handoffs.accept_handoff(engine, payload_with_callback(NUMBER, window))
    again, created_again = handoffs.accept_handoff(engine, payload_with_callback(NUMBER, window))

    jobs = call_jobs.jobs_for(engine, stored.id)
    assert created and not created_again and again.id == stored.id
    assert len(jobs) == 1 and jobs[0].to_number == NUMBER and jobs[0].status == "pending"
    assert jobs[0].next_attempt_at == datetime(2036, 11, 25, 14, tzinfo=timezone.utc)
    assert jobs[0].window_end == datetime(2036, 11, 25, 16, tzinfo=timezone.utc)
    assert "phone" not in stored.payload["callback"] and NUMBER not in json.dumps(stored.payload)
    assert stored.payload["callback"]["window"]["label"] == "today 2-4pm"


def test_a_call_back_without_consent_or_with_a_bad_number_is_refused_whole(engine: Engine) -> None:
    no_consent = payload_with_callback(NUMBER, None)
    del no_consent["callback"]["consent_at"]
    bad_number = payload_with_callback("+44000", None)
    bad_number["idempotency_key"] = "another-key-000000"

    with pytest.raises(InvalidRequest, match="consent_at"):
        handoffs.accept_handoff(engine, no_consent)
    with pytest.raises(InvalidRequest):
        handoffs.accept_handoff(engine, bad_number)
    assert handoffs.find_by_key(engine, bad_number["idempotency_key"]) is None


async def test_the_runner_places_due_calls_and_tells_customers_through_rasa(
    engine: Engine, aiohttp_server, twilio: tuple[FakeTwilio, Any]
) -> None:
    fake_twilio, make_client = twilio
    fake_rasa = FakeRasa()
    server = await aiohttp_server(fake_rasa.app())
    now_job = call_jobs.request_call(engine, "h1", NUMBER, key="cb-now", policy=POLICY)
    with call_jobs.Session(engine) as session, session.begin():
        call_jobs.new_job(
            session, "h1", "+447911123457", "cb-later", POLICY, not_before=T0 + timedelta(days=400)
        )
    fake_twilio.scripted.append(500)

    async with aiohttp.ClientSession() as session:
        rasa = RasaClient(session, str(server.make_url("")).rstrip("/"), "rasa-token")
        fake_rasa.down = True
        placed = await call_runner.place_due(engine, ACCOUNT, POLICY, make_client)
        told_while_down = await call_runner.send_notices(engine, rasa)
        fake_rasa.down = False
        told = await call_runner.send_notices(engine, rasa)
        told_again = await call_runner.send_notices(engine, rasa)

    assert placed == 1 and len(fake_twilio.calls) == 1
    assert call_jobs.get_job(engine, now_job.id).status == "error"
    assert (told_while_down, told, told_again) == (0, 1, 0)
    executed = [call for call in fake_rasa.calls if call[0] == "execute"]
    assert executed == [
        ("execute", "rest:conversation-h1", {"name": "utter_callback_error", "channel": "rest"})
    ]


async def test_a_timeout_is_recorded_never_re_sent_and_the_customer_is_owed_a_notice(
    engine: Engine, aiohttp_server
) -> None:
    fake = FakeTwilio(delay_seconds=1.5)
    server = await aiohttp_server(fake.app())
    impatient = Client(
        ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttp(str(server.make_url("")).rstrip("/"), timeout=0.3)
    )
    job = call_jobs.request_call(engine, "h1", NUMBER, key="cb-slow", policy=POLICY)

    placed = await asyncio.to_thread(place, engine, job.id, lambda: impatient, T0)
    again = await asyncio.to_thread(place, engine, job.id, lambda: impatient, T0 + timedelta(hours=1))

    assert placed.status == "error" and "Timeout" in (placed.last_error or "") and placed.notice == "error"
    assert again == placed and len(fake.calls) <= 1  # the call may exist at Twilio: never asked again
