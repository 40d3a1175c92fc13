"""GET /metrics: handoffs, frustration at handoff, call-back outcomes, queue depth and request timings
move as the service works, and the exposition never holds personal data.
"""

import copy
import dataclasses
import json
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from twilio.request_validator import RequestValidator

from handoff.app import create_app
from handoff.core import metrics
from handoff.core.settings import Settings
from handoff.shared.schema_file import EXAMPLE_FILE
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, TWILIO_NUMBER, FakeTwilio

TOKEN = "metrics-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PUBLIC = "https://attune.example"
PHONE = "+447911123456"


def example(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(json.loads(EXAMPLE_FILE.read_text()))
    payload["idempotency_key"] = uuid.uuid4().hex
    payload.update(changes)
    return payload


def opted_out(**changes: Any) -> dict[str, Any]:
    payload = example(reason="failed_self_service", **changes)
    payload["emotion_processing"] = {"enabled": False, "note": "opted out"}
    for field in ("trajectory", "tone", "emotions", "explanation"):
        payload.pop(field)
    return payload


async def scrape(client: TestClient) -> str:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return await response.text()


def value(exposition: str, sample: str, **labels: str) -> float:
    """The sample's value (0 when absent), parsed as Prometheus would."""
    for family in text_string_to_metric_families(exposition):
        for found in family.samples:
            if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


@pytest.fixture
async def client(aiohttp_client, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(dataclasses.replace(settings, api_token=TOKEN)))


@pytest.fixture
async def twilio(aiohttp_server) -> tuple[FakeTwilio, str]:
    fake = FakeTwilio()
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def with_twilio(aiohttp_client, settings: Settings, twilio: tuple[FakeTwilio, str]) -> TestClient:
    configured = dataclasses.replace(
        settings,
        api_token=TOKEN,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_from_number=TWILIO_NUMBER,
        twilio_api_base=twilio[1],
        public_url=PUBLIC,
        callback_daily_limit=2,
    )
    return await aiohttp_client(create_app(configured))


async def test_accepted_handoffs_are_counted_by_reason_and_priority_with_the_frustration(
    client: TestClient,
) -> None:
    first = example()  # reason frustration, priority normal, last trajectory point 0.5
    for document in (first, first, opted_out(), example(priority="urgent", reason="distress")):
        response = await client.post("/api/v1/handoffs", json=document, headers=AUTH)
        assert response.status in (200, 201), await response.text()

    text = await scrape(client)

    accepted = "attune_handoffs_accepted_total"
    assert value(text, accepted, reason="frustration", priority="normal") == 1  # the retry is not new
    assert value(text, accepted, reason="failed_self_service", priority="normal") == 1
    assert value(text, accepted, reason="distress", priority="urgent") == 1
    # The opted-out customer's handoff adds no frustration reading.
    assert value(text, "attune_handoff_frustration_count", reason="frustration") == 1
    assert value(text, "attune_handoff_frustration_sum", reason="frustration") == pytest.approx(0.5)
    assert value(text, "attune_handoff_frustration_count", reason="failed_self_service") == 0
    assert value(text, "attune_handoff_frustration_bucket", reason="frustration", le="0.5") == 1
    assert value(text, "attune_handoff_frustration_bucket", reason="frustration", le="0.4") == 0
    # Read from the database at scrape time: two waiting at normal priority, one urgent.
    assert value(text, "attune_handoff_queue_depth", priority="normal") == 2
    assert value(text, "attune_handoff_queue_depth", priority="urgent") == 1
    assert value(text, "attune_handoff_queue_depth", priority="high") == 0


async def test_call_back_outcomes_are_counted_once_each_by_final_status(
    with_twilio: TestClient, twilio: tuple[FakeTwilio, str]
) -> None:
    fake = twilio[0]
    created = await with_twilio.post("/api/v1/handoffs", json=example(), headers=AUTH)
    handoff_id = (await created.json())["id"]
    path = f"/api/v1/handoffs/{handoff_id}/callbacks"

    async def ask(key: str) -> dict[str, Any]:
        response = await with_twilio.post(path, json={"to": PHONE, "idempotency_key": key}, headers=AUTH)
        assert response.status in (200, 201), await response.text()
        return dict(await response.json())

    placed = await ask("first")
    assert placed["status"] == "queued"  # placed with (fake) Twilio: not over yet
    assert value(await scrape(with_twilio), "attune_callback_outcomes_total", status="completed") == 0
    [(sid, _)] = fake.created_calls
    status_path = f"/twilio/status/{placed['id']}"
    for _ in range(2):  # Twilio may report the same final status twice: counted once
        params = {"CallSid": sid, "CallStatus": "completed"}
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC + status_path, params)
        reported = await with_twilio.post(status_path, data=params, headers={"X-Twilio-Signature": signature})
        assert reported.status == 204
    fake.scripted.append(500)
    assert (await ask("second"))["status"] == "error"
    assert (await ask("third"))["status"] == "rate_limited"  # the daily limit here is 2
    await ask("third")  # the same request again changes nothing

    text = await scrape(with_twilio)

    outcomes = "attune_callback_outcomes_total"
    assert value(text, outcomes, status="completed") == 1
    assert value(text, outcomes, status="error") == 1
    assert value(text, outcomes, status="rate_limited") == 1
    assert value(text, outcomes, status="busy") == 0
    assert PHONE not in text and PHONE[-10:] not in text and placed["id"] not in text and sid not in text


async def test_a_simulated_call_back_is_an_outcome_too(client: TestClient) -> None:
    created = await client.post("/api/v1/handoffs", json=example(), headers=AUTH)
    handoff_id = (await created.json())["id"]

    response = await client.post(f"/api/v1/handoffs/{handoff_id}/callbacks", json={"to": PHONE}, headers=AUTH)

    assert (await response.json())["status"] == "simulated"
    assert value(await scrape(client), "attune_callback_outcomes_total", status="simulated") == 1


async def test_requests_are_timed_by_route_pattern_never_by_raw_url(client: TestClient) -> None:
    created = await client.post("/api/v1/handoffs", json=example(), headers=AUTH)
    handoff_id = (await created.json())["id"]
    await client.get(f"/api/v1/handoffs/{handoff_id}", headers=AUTH)
    await client.get(f"/api/v1/handoffs/{handoff_id}")  # no token: 401
    await client.get("/no/such/page/conv-42")
    await client.get("/console", allow_redirects=False)  # a redirect to the login page

    text = await scrape(client)

    seconds = "attune_http_request_duration_seconds_count"
    assert value(text, seconds, method="POST", route="/api/v1/handoffs", status="201") == 1
    assert value(text, seconds, method="GET", route="/api/v1/handoffs/{handoff_id}", status="200") == 1
    assert value(text, seconds, method="GET", route="/api/v1/handoffs/{handoff_id}", status="401") == 1
    assert value(text, seconds, method="GET", route=metrics.UNMATCHED, status="404") == 1
    assert value(text, seconds, method="GET", route="/console", status="303") == 1
    assert handoff_id not in text and "/no/such/page" not in text


async def test_the_exposition_holds_no_personal_data(client: TestClient) -> None:
    document = example(conversation_id="+447700900123")
    document["customer"] = {"pseudonym": "cust-0123456789abcdef", "email_masked": "a**@example.com"}
    created = await client.post("/api/v1/handoffs", json=document, headers=AUTH)
    assert created.status == 201, await created.text()

    text = await scrape(client)

    for personal in ("+447700900123", "7700900123", "cust-0123456789abcdef", "example.com", "conv-42"):
        assert personal not in text
    assert value(text, "attune_handoffs_accepted_total", reason="frustration", priority="normal") == 1


async def test_each_app_counts_for_itself(aiohttp_client, settings: Settings, tmp_path) -> None:
    one = await aiohttp_client(create_app(dataclasses.replace(settings, api_token=TOKEN)))
    other_settings = dataclasses.replace(
        settings, api_token=TOKEN, database_url=f"sqlite:///{tmp_path / 'other.db'}"
    )
    other = await aiohttp_client(create_app(other_settings))

    await one.post("/api/v1/handoffs", json=example(), headers=AUTH)

    accepted = "attune_handoffs_accepted_total"
    assert value(await scrape(one), accepted, reason="frustration") == 1
    assert value(await scrape(other), accepted, reason="frustration") == 0


def test_a_label_outside_its_set_becomes_other() -> None:
    registry = CollectorRegistry()
    recorded = metrics.create(registry, lambda: {"normal": 1, "bogus": 2})

    recorded.handoff_accepted("made-up reason", "normal", {"trajectory": [{"frustration": 0.9}]})
    recorded.callback_outcome("ringing-forever")

    text = recorded.exposition().decode()
    assert value(text, "attune_handoffs_accepted_total", reason="other", priority="normal") == 1
    assert value(text, "attune_callback_outcomes_total", status="other") == 1
    assert value(text, "attune_handoff_queue_depth", priority="other") == 2
    assert "made-up" not in text and "ringing-forever" not in text and "bogus" not in text


def test_a_database_failure_leaves_the_queue_depth_out_of_the_scrape() -> None:
    def broken() -> dict[str, int]:
        raise OSError("database is down")

    recorded = metrics.create(CollectorRegistry(), broken)

    text = recorded.exposition().decode()
    assert "attune_handoff_queue_depth" in text  # the family, without samples
    assert value(text, "attune_handoff_queue_depth", priority="normal") == 0
