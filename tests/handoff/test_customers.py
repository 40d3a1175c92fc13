"""Customers across channels: linking rules, merging, the consent log, the API and the chat switch."""

from datetime import datetime, timedelta, timezone

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.engine import Engine

from handoff import customers
from handoff.app import create_app
from handoff.db import create_engine_for
from handoff.errors import InvalidRequest
from handoff.migrate import upgrade_to_head
from handoff.settings import Settings

T0 = datetime(2026, 11, 25, 10, tzinfo=timezone.utc)
TOKEN = "customers-test-token-000"


@pytest.fixture
def engine(settings: Settings) -> Engine:
    upgrade_to_head(settings.database_url)
    return create_engine_for(settings.database_url)


def ident(kind: str, value: str) -> customers.Identity:
    return customers.normalise(kind, value)


def test_identities_are_normalised_and_checked() -> None:
    assert ident("phone", "whatsapp:+44 7911 123456") == customers.Identity("phone", "+447911123456")
    assert ident("email", " Ada@Example.COM ") == customers.Identity("email", "ada@example.com")
    for kind, value in (("phone", "07911 123456"), ("passport", "X1"), ("id", " ")):
        with pytest.raises(InvalidRequest):
            ident(kind, value)


def test_identities_presented_together_are_one_customer_and_anonymous_sessions_stay_apart(
    engine: Engine,
) -> None:
    web = customers.resolve(
        engine, [ident("id", "C-1"), ident("phone", "+447911123456"), ident("session", "s1")]
    )
    sms = customers.resolve(engine, [ident("phone", "+447911123456")])
    anonymous = customers.resolve(engine, [ident("session", "s2")])

    assert sms.customer == web.customer and web.customer.startswith("cust-")
    assert anonymous.customer != web.customer
    assert sorted(i.kind for i in customers.identities_of(engine, web.customer)) == ["id", "phone", "session"]


def test_two_known_customers_presented_together_merge_into_the_oldest_and_the_private_choice_wins(
    engine: Engine,
) -> None:
    old = customers.resolve(engine, [ident("phone", "+447911123456")], now=T0)
    new = customers.set_emotion_processing(
        engine, [ident("id", "C-2")], "off", "socketio", "web_switch", now=T0 + timedelta(days=1)
    )

    merged = customers.resolve(engine, [ident("id", "C-2"), ident("phone", "+447911123456")])

    assert merged.customer == old.customer != new.customer
    assert merged.emotion_processing == "off"
    assert [e["source"] for e in customers.consent_log(engine, merged.customer)] == ["web_switch"]


def test_the_consent_log_keeps_every_change_in_order(engine: Engine) -> None:
    who = [ident("phone", "+447911123456")]
    customers.set_emotion_processing(engine, who, "off", "twilio", "conversation", now=T0)
    latest = customers.set_emotion_processing(engine, who, "on", "api", "api", now=T0 + timedelta(hours=1))

    log = customers.consent_log(engine, latest.customer)
    assert [(e["emotion_processing"], e["channel"], e["source"]) for e in log] == [
        ("off", "twilio", "conversation"),
        ("on", "api", "api"),
    ]
    with pytest.raises(InvalidRequest):
        customers.set_emotion_processing(engine, who, "maybe", "api", "api")


@pytest.fixture
async def service(aiohttp_client, settings: Settings) -> TestClient:
    import dataclasses

    return await aiohttp_client(create_app(dataclasses.replace(settings, api_token=TOKEN)))


async def test_the_api_needs_the_token_and_says_what_is_wrong(service: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    body = {"identities": [{"kind": "phone", "value": "+447911123456"}]}

    no_token = await service.post("/api/v1/customers/resolve", json=body)
    ok = await service.post("/api/v1/customers/resolve", json=body, headers=auth)
    bad_kind = await service.post(
        "/api/v1/customers/resolve", json={"identities": [{"kind": "x", "value": "y"}]}, headers=auth
    )
    not_json = await service.post("/api/v1/customers/resolve", data="identities", headers=auth)
    off = await service.post(
        "/api/v1/customers/consent",
        json={**body, "emotion_processing": "off", "channel": "crm", "source": "api"},
        headers=auth,
    )
    customer = (await ok.json())["customer"]
    log = await service.get(f"/api/v1/customers/{customer}/consent", headers=auth)
    unknown = await service.get("/api/v1/customers/cust-nobody/consent", headers=auth)

    assert no_token.status == 401
    assert ok.status == 200 and (await ok.json())["emotion_processing"] == "on"
    assert bad_kind.status == 400 and "identity kind" in (await bad_kind.json())["detail"]
    assert not_json.status == 400
    assert off.status == 200 and (await off.json()) == {"customer": customer, "emotion_processing": "off"}
    assert (await log.json())["emotion_processing"] == "off" and unknown.status == 404


async def test_the_chat_switch_turns_emotion_processing_off_and_on_for_the_session(
    service: TestClient,
) -> None:
    before = await service.get("/chat/consent", params={"session_id": "s-42"})
    off = await service.post("/chat/consent", json={"session_id": "s-42", "emotion_processing": "off"})
    now = await service.get("/chat/consent", params={"session_id": "s-42"})
    missing = await service.post("/chat/consent", json={"emotion_processing": "off"})

    assert (await before.json())["emotion_processing"] == "on"
    assert off.status == 200 and (await now.json())["emotion_processing"] == "off"
    assert missing.status == 400 and "session_id" in (await missing.json())["detail"]
