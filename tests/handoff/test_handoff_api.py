import asyncio
import copy
import dataclasses
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.core.settings import Settings
from handoff.shared.schema_file import EXAMPLE_FILE

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def example(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(json.loads(EXAMPLE_FILE.read_text()))
    payload.update(changes)
    return payload


@pytest.fixture
async def client(aiohttp_client, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(dataclasses.replace(settings, api_token=TOKEN)))


async def test_a_new_handoff_is_stored_and_queued(client: TestClient) -> None:
    response = await client.post("/api/v1/handoffs", json=example(), headers=AUTH)

    assert response.status == 201
    created = await response.json()
    assert created["status"] == "queued" and created["duplicate"] is False
    stored = await (await client.get(f"/api/v1/handoffs/{created['id']}", headers=AUTH)).json()
    assert stored["payload"] == example()


async def test_the_same_handoff_twice_is_stored_once(client: TestClient) -> None:
    first = await (await client.post("/api/v1/handoffs", json=example(), headers=AUTH)).json()
    # A retry rebuilt later: only the volatile created_at differs (contract.VOLATILE_FIELDS).
    again = await client.post(
        "/api/v1/handoffs", json=example(created_at="2026-03-10T12:05:00+00:00"), headers=AUTH
    )

    assert again.status == 200
    body = await again.json()
    assert body["id"] == first["id"] and body["duplicate"] is True
    queue = await (await client.get("/api/v1/handoffs", headers=AUTH)).json()
    assert [h["id"] for h in queue["handoffs"]] == [first["id"]]


async def test_concurrent_deliveries_of_one_handoff_make_one_row(client: TestClient) -> None:
    responses = await asyncio.gather(
        *(client.post("/api/v1/handoffs", json=example(), headers=AUTH) for _ in range(5))
    )

    ids = {(await r.json())["id"] for r in responses}
    assert len(ids) == 1
    assert sorted(r.status for r in responses).count(201) == 1


async def test_the_queue_is_ordered_by_priority_then_waiting_time(client: TestClient) -> None:
    keys = {"normal-1": "normal", "urgent-1": "urgent", "normal-2": "normal", "high-1": "high"}
    for key, priority in keys.items():
        payload = example(idempotency_key=f"key-{key}", priority=priority, conversation_id=key)
        assert (await client.post("/api/v1/handoffs", json=payload, headers=AUTH)).status == 201

    queue = await (await client.get("/api/v1/handoffs?status=queued", headers=AUTH)).json()

    assert [h["conversation_id"] for h in queue["handoffs"]] == ["urgent-1", "high-1", "normal-1", "normal-2"]


@pytest.mark.parametrize(
    "body, content_type, status, error, detail",
    [
        ("{not json", "application/json", 400, "invalid_json", "not valid JSON"),
        ("[]", "application/json", 400, "invalid_request", "must be a JSON object"),
        (json.dumps(example(priority="asap")), "application/json", 400, "invalid_request", "priority"),
        (
            json.dumps(example(trajectory=[{"turn": 1}])),
            "application/json",
            400,
            "invalid_request",
            "trajectory[0]",
        ),
        ("priority=urgent", "application/x-www-form-urlencoded", 400, "invalid_request", "application/json"),
    ],
    ids=["not-json", "not-an-object", "bad-priority", "bad-trajectory-point", "form-encoded"],
)
async def test_bad_payloads_get_a_400_with_the_reason(
    client: TestClient, body: str, content_type: str, status: int, error: str, detail: str
) -> None:
    response = await client.post(
        "/api/v1/handoffs", data=body, headers={**AUTH, "Content-Type": content_type}
    )

    assert response.status == status
    problem = await response.json()
    assert problem["error"] == error
    assert detail in problem["detail"]


async def test_a_mismatched_idempotency_header_is_refused(client: TestClient) -> None:
    response = await client.post(
        "/api/v1/handoffs", json=example(), headers={**AUTH, "Idempotency-Key": "other-key"}
    )

    assert response.status == 400
    assert "Idempotency-Key" in (await response.json())["detail"]


async def test_calls_without_the_token_are_refused(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-000000"}):
        response = await client.post("/api/v1/handoffs", json=example(), headers=headers)
        assert response.status == 401
        assert (await response.json())["error"] == "unauthorized"


async def test_unknown_handoff_and_bad_queue_parameters(client: TestClient) -> None:
    missing = await client.get("/api/v1/handoffs/nope", headers=AUTH)
    bad_status = await client.get("/api/v1/handoffs?status=lost", headers=AUTH)
    bad_limit = await client.get("/api/v1/handoffs?limit=0", headers=AUTH)

    assert (missing.status, (await missing.json())["error"]) == (404, "not_found")
    assert bad_status.status == 400 and "status must be one of" in (await bad_status.json())["detail"]
    assert bad_limit.status == 400


async def test_a_huge_body_is_refused_without_a_500(client: TestClient) -> None:
    response = await client.post(
        "/api/v1/handoffs",
        data=b"x" * (2 * 1024 * 1024),
        headers={**AUTH, "Content-Type": "application/json"},
    )

    assert response.status == 413


async def test_the_answer_says_where_the_handoff_is_in_line_and_whether_anyone_is_online(
    client: TestClient,
) -> None:
    first = await (
        await client.post("/api/v1/handoffs", json=example(idempotency_key="key-first"), headers=AUTH)
    ).json()
    second = await (
        await client.post("/api/v1/handoffs", json=example(idempotency_key="key-second"), headers=AUTH)
    ).json()
    urgent = await (
        await client.post(
            "/api/v1/handoffs", json=example(idempotency_key="key-urgent", priority="urgent"), headers=AUTH
        )
    ).json()

    assert (first["queue_position"], second["queue_position"], urgent["queue_position"]) == (1, 2, 1)
    assert first["agents_online"] == 0
