"""CSAT answers in the handoff service (handoff/queue/csat.py): ``POST /api/v1/csat`` with the bearer
token, stored once per answer id, shown on the handoff page of the conversation they followed.
"""

import dataclasses
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.core.settings import Settings
from tests.support.console import PASSWORD, log_in
from tests.support.handoffs import add_handoff

TOKEN = "csat-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CONVERSATION = "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f"  # the contract example's, so add_handoff matches it


@pytest.fixture
async def service(aiohttp_client: Any, settings: Settings) -> TestClient:
    # The token on every call by default (as the action server sends it); a test overrides it to refuse.
    return await aiohttp_client(
        create_app(dataclasses.replace(settings, api_token=TOKEN, demo_password=PASSWORD)), headers=AUTH
    )


def answer(**changes: Any) -> dict[str, Any]:
    return {
        "answer_id": "a1b2c3d4e5f60718",
        "conversation_id": CONVERSATION,
        "score": 4,
        "comment": "quick, write to me at ada@example.com",
        **changes,
    }


async def test_an_answer_is_stored_once_and_shown_on_the_handoff_page(service: TestClient) -> None:
    handoff_id = await add_handoff(service)

    first = await service.post("/api/v1/csat", json=answer(), headers=AUTH)
    again = await service.post("/api/v1/csat", json=answer(), headers=AUTH)

    assert first.status == 201 and again.status == 200
    stored, repeated = await first.json(), await again.json()
    assert stored["handoff_id"] == handoff_id and stored["duplicate"] is False
    assert repeated["duplicate"] is True and repeated["id"] == stored["id"]
    await log_in(service, "agent", PASSWORD)
    page = await (await service.get(f"/console/handoffs/{handoff_id}")).text()
    assert page.count('data-score="4"') == 1  # once, though sent twice
    # The comment is the customer's words: masked for an agent like the rest of the page.
    assert "a***@example.com" in page and "ada@example.com" not in page


async def test_a_page_without_answers_has_no_csat_panel(service: TestClient) -> None:
    handoff_id = await add_handoff(service)
    await service.post("/api/v1/csat", json=answer(conversation_id="web:" + "0" * 32), headers=AUTH)
    await log_in(service, "agent", PASSWORD)

    page = await (await service.get(f"/console/handoffs/{handoff_id}")).text()

    assert 'id="csat"' not in page


async def test_the_same_answer_id_with_another_score_is_refused(service: TestClient) -> None:
    await service.post("/api/v1/csat", json=answer(), headers=AUTH)

    reused = await service.post("/api/v1/csat", json=answer(score=1), headers=AUTH)

    assert reused.status == 409
    assert (await reused.json())["error"] == "idempotency_key_reused"


async def test_a_bot_only_conversation_is_stored_without_a_handoff(service: TestClient) -> None:
    stored = await service.post("/api/v1/csat", json=answer(conversation_id="rest:no-handoff"), headers=AUTH)

    assert stored.status == 201
    assert (await stored.json())["handoff_id"] is None


async def test_without_the_token_nothing_is_read_or_stored(service: TestClient) -> None:
    refused = await service.post("/api/v1/csat", json=answer(), headers={"Authorization": ""})
    wrong = await service.post("/api/v1/csat", json=answer(), headers={"Authorization": "Bearer nope"})
    later = await service.post("/api/v1/csat", json=answer(score=2), headers=AUTH)

    assert refused.status == 401 and wrong.status == 401
    assert later.status == 201  # nothing was stored under that id by the refused calls


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"score": 0}, "score"),
        ({"score": 6}, "score"),
        ({"score": "4"}, "score"),
        ({"score": True}, "score"),
        ({"score": 4.5}, "score"),
        ({"score": None}, "score"),
        ({"answer_id": "short"}, "answer_id"),
        ({"answer_id": "a/b/c/d/e/f/g/h"}, "answer_id"),
        ({"conversation_id": ""}, "conversation_id"),
        ({"conversation_id": "web:x\nInjected: 1"}, "conversation_id"),
        ({"conversation_id": "x" * 256}, "conversation_id"),
        ({"comment": "x" * 1001}, "comment"),
        ({"comment": "fine\x00"}, "comment"),
        ({"comment": 5}, "comment"),
        ({"extra": 1}, "extra"),
    ],
)
async def test_a_bad_answer_is_refused_with_a_reason(
    service: TestClient, changes: dict[str, Any], named: str
) -> None:
    refused = await service.post("/api/v1/csat", json=answer(**changes), headers=AUTH)

    assert refused.status == 400
    assert named in (await refused.json())["detail"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"[1, 2]", "application/json"),
        (b"{", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"{}", "text/plain"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_a_400(
    service: TestClient, body: bytes, content_type: str
) -> None:
    refused = await service.post("/api/v1/csat", data=body, headers={**AUTH, "Content-Type": content_type})

    assert refused.status == 400
