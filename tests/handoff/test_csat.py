"""CSAT answers in the handoff service (handoff/queue/csat.py): ``POST /api/v1/csat`` with the bearer
token, stored once per answer id, shown on the handoff page of the conversation they followed; and
what ``attune privacy`` export, erase and purge do to them and to the action server's ledger and queue
(handoff/privacy/csat_data.py).
"""

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from actions.csat_ledger import CsatLedger, asked_table, customer_key
from actions.csat_queue import CsatQueue, queue_table
from handoff.app import create_app
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import CsatAnswer, Handoff
from handoff.core.settings import Settings
from handoff.privacy import customers, personal_data
from handoff.queue import csat
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


# --- privacy: export, erasure and retention reach the answers, the ledger and the queue ------------
PHONE = "+447700900123"
TOKEN_SUB = "site-customer-42"  # an identity token's ``sub``: the ledger's verified key
NOW = datetime(2026, 11, 25, 12, tzinfo=timezone.utc)


@pytest.fixture
def stores(tmp_path: Path) -> personal_data.Stores:
    handoff_url = f"sqlite:///{tmp_path / 'handoff.db'}"
    upgrade_to_head(handoff_url)
    store = CsatLedger.open(f"sqlite:///{tmp_path / 'store.db'}").engine
    outbox = CsatQueue.open(f"sqlite:///{tmp_path / 'outbox.db'}").engine
    return personal_data.Stores(create_engine_for(handoff_url), contacts=store, outbox=outbox)


def a_handoff(engine: Engine, handoff_id: str, conversation: str, age: timedelta) -> None:
    with Session(engine) as session, session.begin():
        session.add(
            Handoff(
                id=handoff_id,
                conversation_id=conversation,
                idempotency_key=f"key-{handoff_id}-0000",
                status="resolved",
                priority=0,
                reason="frustration",
                payload=json.dumps({"customer": {}, "transcript": []}),
                created_at=NOW - age,
            )
        )


def an_answer(engine: Engine, answer_id: str, conversation: str, age: timedelta | None = None) -> None:
    stored, _ = csat.store(engine, csat.NewAnswer(answer_id, conversation, 2, f"comment {answer_id}"))
    if age is not None:  # dated in the past, as retention sees it
        with Session(engine) as session, session.begin():
            row = session.get(CsatAnswer, stored.answer_id)
            assert row is not None
            row.created_at = NOW - age


def answers_left(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(str(row.id) for row in session.execute(select(CsatAnswer)).scalars())


def ledger_left(store: Engine) -> list[str]:
    with store.connect() as connection:
        return sorted(str(row[0]) for row in connection.execute(select(asked_table.c.customer_key)))


@pytest.fixture
def customer(stores: personal_data.Stores) -> str:
    """A customer known by phone and by an identity token, asked once and answering twice (after a
    handoff and in a bot-only conversation), next to somebody else who did the same.
    """
    found = customers.resolve(
        stores.handoff,
        [customers.normalise("phone", PHONE), customers.normalise("id", TOKEN_SUB)],
        customers.Linking(may_merge=True),
    )
    a_handoff(stores.handoff, "h-theirs", f"sms:{PHONE}", timedelta(hours=1))
    a_handoff(stores.handoff, "h-other", "rest:someone-else", timedelta(hours=1))
    an_answer(stores.handoff, "answer-theirs-sms", f"sms:{PHONE}")
    an_answer(stores.handoff, "answer-theirs-wa", f"whatsapp:{PHONE}")
    an_answer(stores.handoff, "answer-other-one", "rest:someone-else")
    assert stores.contacts is not None and stores.outbox is not None
    ledger = CsatLedger(stores.contacts)
    for key in (
        customer_key(str(found.customer), "ignored"),
        customer_key(TOKEN_SUB, "ignored"),
        customer_key(None, f"whatsapp:{PHONE}"),
        customer_key(None, "rest:someone-else"),
    ):
        assert ledger.claim(key, NOW.timestamp(), 86400.0)
    queue = CsatQueue(stores.outbox)
    for answer_id, conversation in (("queued-theirs", f"sms:{PHONE}"), ("queued-other", "rest:someone-else")):
        queue.put({"answer_id": answer_id, "conversation_id": conversation, "score": 5}, NOW.timestamp())
    return str(found.customer)


def test_export_holds_the_customers_answers_and_when_they_were_asked(
    stores: personal_data.Stores, customer: str
) -> None:
    exported = personal_data.export(stores, f"phone:{PHONE}", now=NOW)

    assert [a["id"] for a in exported["csat_answers"]] == ["answer-theirs-sms", "answer-theirs-wa"]
    assert exported["csat_answers"][0]["handoff_id"] == "h-theirs"
    assert exported["csat_answers"][0]["comment"] == "comment answer-theirs-sms"
    assert sorted(a["key"] for a in exported["csat_asked"]) == sorted(
        [f"customer:{customer}", f"customer:{TOKEN_SUB}", f"conversation:whatsapp:{PHONE}"]
    )


def test_erasure_deletes_the_customers_answers_ledger_rows_and_queued_answers_only(
    stores: personal_data.Stores, customer: str
) -> None:
    """Before this, erasing a customer whose handoff had an answer failed on the foreign key."""
    assert stores.contacts is not None and stores.outbox is not None

    counts = personal_data.erase(stores, customer, now=NOW)

    assert answers_left(stores.handoff) == ["answer-other-one"]
    assert ledger_left(stores.contacts) == ["conversation:rest:someone-else"]
    with stores.outbox.connect() as connection:
        queued = [str(row[0]) for row in connection.execute(select(queue_table.c.answer_id))]
    assert queued == ["queued-other"]
    assert (counts["csat_answers"], counts["csat_asked"], counts["queued_csat_queue"]) == (2, 3, 1)
    assert counts["handoffs"] == 1


def test_retention_deletes_old_answers_those_of_old_handoffs_and_old_ledger_rows(
    stores: personal_data.Stores,
) -> None:
    retention = personal_data.Retention(emotion_days=30, transcript_days=180, audit_days=730)
    a_handoff(stores.handoff, "h-ancient", "sms:+447700900001", timedelta(days=181))
    a_handoff(stores.handoff, "h-recent", "sms:+447700900002", timedelta(days=179))
    an_answer(stores.handoff, "answer-of-ancient", "sms:+447700900001", timedelta(days=1))
    an_answer(stores.handoff, "answer-of-recent", "sms:+447700900002", timedelta(days=1))
    an_answer(stores.handoff, "answer-bot-old", "rest:old", timedelta(days=181))
    an_answer(stores.handoff, "answer-bot-new", "rest:new", timedelta(days=179))
    assert stores.contacts is not None
    ledger = CsatLedger(stores.contacts)
    ledger.claim("conversation:rest:old", (NOW - timedelta(days=181)).timestamp(), 1.0)
    ledger.claim("conversation:rest:new", (NOW - timedelta(days=179)).timestamp(), 1.0)

    counts = personal_data.purge(stores, retention, now=NOW)
    again = personal_data.purge(stores, retention, now=NOW)

    assert answers_left(stores.handoff) == ["answer-bot-new", "answer-of-recent"]
    assert ledger_left(stores.contacts) == ["conversation:rest:new"]
    assert (counts["csat_answers_deleted"], counts["handoffs_deleted"], counts["csat_asked_deleted"]) == (
        2,
        1,
        1,
    )
    assert (again["csat_answers_deleted"], again["csat_asked_deleted"]) == (0, 0)
