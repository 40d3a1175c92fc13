"""Customers across channels: linking rules, merging and its undo, the consent log, the API and the
chat switch (which needs a session id the Rasa server signed).
"""

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.app import create_app
from handoff.audit import audit_log
from handoff.core.app_keys import CHAT_LIMITER, ENGINE
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import ConsentEvent, Customer, CustomerIdentity
from handoff.core.rate_limit import RateLimiter
from handoff.core.settings import Settings
from handoff.privacy import customer_merges, customers
from handoff.shared.errors import Conflict, InvalidRequest, NotFound, TooManyRequests
from handoff.shared.identity_tokens import issue_session_id

T0 = datetime(2026, 11, 25, 10, tzinfo=timezone.utc)
TOKEN = "customers-test-token-000"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
VERIFIED = customers.Linking(may_merge=True)
WEB = "web:" + "a" * 32


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
        engine, [ident("id", "C-1"), ident("phone", "+447911123456"), ident("session", WEB)], VERIFIED
    )
    sms = customers.resolve(engine, [ident("phone", "+447911123456")], VERIFIED)
    anonymous = customers.resolve(engine, [ident("session", "rest:s2")], VERIFIED)

    assert sms.customer == web.customer and str(web.customer).startswith("cust-")
    assert anonymous.customer != web.customer
    assert sorted(i.kind for i in customers.identities_of(engine, str(web.customer))) == [
        "id",
        "phone",
        "session",
    ]


def test_a_rest_sender_is_never_linked_to_another_identity(engine: Engine) -> None:
    victim = customers.resolve(engine, [ident("id", "C-9001")], VERIFIED)

    with pytest.raises(InvalidRequest, match="never linked"):
        customers.resolve(engine, [ident("session", "rest:attacker"), ident("id", "C-9001")], VERIFIED)

    assert customers.identities_of(engine, str(victim.customer)) == [ident("id", "C-9001")]


def test_two_known_customers_presented_together_merge_into_the_oldest_and_the_private_choice_wins(
    engine: Engine,
) -> None:
    old = customers.resolve(engine, [ident("phone", "+447911123456")], VERIFIED, now=T0)
    new = customers.set_emotion_processing(
        engine, [ident("id", "C-2")], "off", "socketio", "web_switch", VERIFIED, now=T0 + timedelta(days=1)
    )

    merged = customers.resolve(engine, [ident("id", "C-2"), ident("phone", "+447911123456")], VERIFIED)

    assert merged.customer == old.customer != new.customer
    assert merged.emotion_processing == "off"
    assert [e["source"] for e in customers.consent_log(engine, str(merged.customer))] == ["web_switch"]
    [merge] = customer_merges.merges_of(engine, str(old.customer))
    assert (merge.kept, merge.removed, merge.identity_kinds) == (old.customer, new.customer, ("id",))
    assert (merge.kept_choice_before, merge.removed_choice, merge.choice_after) == ("on", "off", "off")


def test_the_consent_log_keeps_every_change_in_order(engine: Engine) -> None:
    who = [ident("phone", "+447911123456")]
    customers.set_emotion_processing(engine, who, "off", "twilio", "conversation", VERIFIED, now=T0)
    latest = customers.set_emotion_processing(
        engine, who, "on", "api", "api", VERIFIED, now=T0 + timedelta(hours=1)
    )

    log = customers.consent_log(engine, str(latest.customer))
    assert [(e["emotion_processing"], e["channel"], e["source"]) for e in log] == [
        ("off", "twilio", "conversation"),
        ("on", "api", "api"),
    ]
    with pytest.raises(InvalidRequest):
        customers.set_emotion_processing(engine, who, "maybe", "api", "api", VERIFIED)


def state(engine: Engine) -> dict[str, Any]:
    """Every customer with its choice, identities and consent events: what a merge or undo changes."""
    with Session(engine) as session:
        return {
            c.id: (
                c.emotion_processing,
                sorted(
                    (i.kind, i.value)
                    for i in session.execute(
                        select(CustomerIdentity).where(CustomerIdentity.customer_id == c.id)
                    ).scalars()
                ),
                sorted(
                    e.id
                    for e in session.execute(
                        select(ConsentEvent).where(ConsentEvent.customer_id == c.id)
                    ).scalars()
                ),
            )
            for c in session.execute(select(Customer)).scalars()
        }


def test_undoing_a_merge_restores_both_customers_as_they_were(engine: Engine) -> None:
    phone, login = [ident("phone", "+447911123456")], [ident("id", "C-2"), ident("email", "b@example.com")]
    customers.set_emotion_processing(engine, phone, "on", "twilio", "conversation", VERIFIED, now=T0)
    customers.set_emotion_processing(
        engine, login, "off", "socketio", "conversation", VERIFIED, now=T0 + timedelta(hours=1)
    )
    before = state(engine)
    customers.resolve(engine, [*phone, login[0]], VERIFIED, now=T0 + timedelta(hours=2))
    [kept] = state(engine)
    [merge] = customer_merges.merges_of(engine, kept)

    undone = customer_merges.undo(engine, merge.id, now=T0 + timedelta(hours=3))

    assert state(engine) == before
    assert undone.undone_at == T0 + timedelta(hours=3)
    with pytest.raises(Conflict, match="already undone"):
        customer_merges.undo(engine, merge.id)
    with pytest.raises(NotFound):
        customer_merges.undo(engine, "no-such-merge")


def test_an_opt_out_made_while_merged_stays_with_both_after_the_undo(engine: Engine) -> None:
    first = customers.resolve(engine, [ident("phone", "+447911123456")], VERIFIED, now=T0)
    second = customers.resolve(engine, [ident("id", "C-2")], VERIFIED, now=T0 + timedelta(hours=1))
    customers.resolve(engine, [ident("id", "C-2"), ident("phone", "+447911123456")], VERIFIED, now=T0)
    customers.set_emotion_processing(
        engine, [ident("id", "C-2")], "off", "api", "api", VERIFIED, now=T0 + timedelta(hours=2)
    )
    [merge] = customer_merges.merges_of(engine, str(first.customer))

    customer_merges.undo(engine, merge.id)

    assert customers.lookup(engine, ident("phone", "+447911123456")).emotion_processing == "off"
    assert customers.lookup(engine, ident("id", "C-2")) == customers.CustomerConsent(second.customer, "off")


def test_a_merge_whose_customer_was_merged_again_can_no_longer_be_undone(engine: Engine) -> None:
    a = customers.resolve(engine, [ident("id", "A")], VERIFIED, now=T0)
    b = customers.resolve(engine, [ident("id", "B")], VERIFIED, now=T0 + timedelta(hours=1))
    c = customers.resolve(engine, [ident("id", "C")], VERIFIED, now=T0 + timedelta(hours=2))
    customers.resolve(engine, [ident("id", "B"), ident("id", "C")], VERIFIED)  # C into B
    customers.resolve(engine, [ident("id", "A"), ident("id", "B")], VERIFIED)  # B (with C) into A
    [first] = customer_merges.merges_of(engine, str(c.customer))
    before = state(engine)

    with pytest.raises(Conflict, match="no longer be undone"):
        customer_merges.undo(engine, first.id)

    assert state(engine) == before and first.kept == b.customer
    assert set(before) == {a.customer}


@pytest.fixture
async def service(aiohttp_client, settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(dataclasses.replace(settings, api_token=TOKEN)))


async def test_the_api_needs_the_token_and_says_what_is_wrong(service: TestClient) -> None:
    body = {"identities": [{"kind": "phone", "value": "+447911123456"}]}

    no_token = await service.post("/api/v1/customers/resolve", json=body)
    ok = await service.post("/api/v1/customers/resolve", json=body, headers=AUTH)
    bad_kind = await service.post(
        "/api/v1/customers/resolve", json={"identities": [{"kind": "x", "value": "y"}]}, headers=AUTH
    )
    not_json = await service.post("/api/v1/customers/resolve", data="identities", headers=AUTH)
    off = await service.post(
        "/api/v1/customers/consent",
        json={**body, "emotion_processing": "off", "channel": "crm", "source": "api"},
        headers=AUTH,
    )
    customer = (await ok.json())["customer"]
    log = await service.get(f"/api/v1/customers/{customer}/consent", headers=AUTH)
    unknown = await service.get("/api/v1/customers/cust-nobody/consent", headers=AUTH)
    undo = await service.post("/api/v1/customers/merges/no-such-merge/undo")

    assert no_token.status == 401 and undo.status == 401
    assert ok.status == 200 and (await ok.json())["emotion_processing"] == "on"
    assert bad_kind.status == 400 and "identity kind" in (await bad_kind.json())["detail"]
    assert not_json.status == 400
    assert off.status == 200 and (await off.json()) == {"customer": customer, "emotion_processing": "off"}
    assert (await log.json())["emotion_processing"] == "off" and unknown.status == 404


async def consent_api(client: TestClient, identities: list[dict[str, str]], choice: str) -> str:
    body = {"identities": identities, "emotion_processing": choice, "channel": "api", "source": "api"}
    response = await client.post("/api/v1/customers/consent", json=body, headers=AUTH)
    assert response.status == 200, await response.text()
    return str((await response.json())["customer"])


async def test_a_merge_through_the_api_is_audited_and_undone(service: TestClient) -> None:
    engine = service.app[ENGINE]
    first = await consent_api(service, [{"kind": "phone", "value": "+447911123456"}], "on")
    second = await consent_api(service, [{"kind": "id", "value": "C-2"}], "off")
    before = state(engine)

    both = [{"kind": "id", "value": "C-2"}, {"kind": "phone", "value": "+447911123456"}]
    merged = await service.post("/api/v1/customers/resolve", json={"identities": both}, headers=AUTH)
    [merge] = (await (await service.get(f"/api/v1/customers/{first}/consent", headers=AUTH)).json())["merges"]
    undone = await service.post(f"/api/v1/customers/merges/{merge['id']}/undo", headers=AUTH)
    again = await service.post(f"/api/v1/customers/merges/{merge['id']}/undo", headers=AUTH)
    unknown = await service.post("/api/v1/customers/merges/no-such-merge/undo", headers=AUTH)

    assert (await merged.json()) == {"customer": first, "emotion_processing": "off"}
    assert (merge["kept"], merge["removed"], merge["identity_kinds"]) == (first, second, ["id"])
    assert undone.status == 200 and (await undone.json())["undone_at"]
    assert state(engine) == before
    assert again.status == 409 and unknown.status == 404
    logged = [
        (r.entry.kind, r.entry.customer, r.entry.inputs["id"])
        for r in audit_log.for_conversation(engine, f"customer:{first}")
    ]
    assert logged == [("customer_merge", first, merge["id"]), ("customer_merge_undone", first, merge["id"])]
    assert "+447911123456" not in str(
        [r.to_dict() for r in audit_log.for_conversation(engine, f"customer:{first}")]
    )
    assert audit_log.verify(engine).ok


async def test_without_an_api_token_identities_asserted_together_merge_nobody(
    aiohttp_client, settings: Settings
) -> None:
    """The old anonymous path: an unauthenticated caller naming two customers' ids together."""
    open_api = await aiohttp_client(create_app(settings))  # no ATTUNE_HANDOFF_API_TOKEN: nobody's calls
    engine = open_api.app[ENGINE]
    for value in ("C-9001", "C-9002"):
        await open_api.post(
            "/api/v1/customers/resolve", json={"identities": [{"kind": "id", "value": value}]}
        )
    before = state(engine)

    both = [{"kind": "id", "value": "C-9001"}, {"kind": "id", "value": "C-9002"}]
    resolved = await open_api.post("/api/v1/customers/resolve", json={"identities": both})
    consent = await open_api.post(
        "/api/v1/customers/consent", json={"identities": both, "emotion_processing": "off"}
    )

    assert resolved.status == 409 and consent.status == 409
    assert "authenticated" in (await resolved.json())["detail"]
    assert state(engine) == before and len(before) == 2


# --- the web chat's switch ---------------------------------------------------------------------
def signed(settings: Settings) -> str:
    """A session id as the Rasa server issues it (session_confirm)."""
    return issue_session_id(settings.session_key)


def customer_rows(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.execute(select(func.count()).select_from(Customer)).scalar_one())


async def test_the_chat_switch_turns_emotion_processing_off_and_on_for_a_signed_session(
    service: TestClient, settings: Settings
) -> None:
    session_id = signed(settings)
    before = await service.get("/chat/consent", params={"session_id": session_id})
    off = await service.post("/chat/consent", json={"session_id": session_id, "emotion_processing": "off"})
    now = await service.get("/chat/consent", params={"session_id": session_id})
    missing = await service.post("/chat/consent", json={"emotion_processing": "off"})

    assert (await before.json()) == {"customer": None, "emotion_processing": "on"}
    assert off.status == 200 and (await now.json())["emotion_processing"] == "off"
    assert missing.status == 400 and "session_id" in (await missing.json())["detail"]
    [customer] = state(service.app[ENGINE]).values()
    assert customer[1] == [("session", "web:" + session_id.split(".")[0])]


async def test_another_sessions_id_without_its_signature_is_refused_and_changes_nothing(
    service: TestClient, settings: Settings
) -> None:
    victim = signed(settings)
    await service.post("/chat/consent", json={"session_id": victim, "emotion_processing": "off"})
    before = state(service.app[ENGINE])
    bare, _, signature = victim.partition(".")
    forged = [bare, "web:" + bare, f"{bare}.{'A' * len(signature)}", issue_session_id("x" * 32)]

    answers = [
        await service.post("/chat/consent", json={"session_id": f, "emotion_processing": "on"})
        for f in forged
    ]
    looks = [await service.get("/chat/consent", params={"session_id": f}) for f in forged]

    assert [a.status for a in answers + looks] == [403] * 8
    assert all(["not a session this service issued" in (await a.json())["detail"] for a in answers])
    assert state(service.app[ENGINE]) == before


async def test_the_switch_ignores_identities_a_client_adds(service: TestClient, settings: Settings) -> None:
    victim = await consent_api(service, [{"kind": "id", "value": "C-9001"}], "off")
    body = {
        "session_id": signed(settings),
        "emotion_processing": "on",
        "customer": {"id": "C-9001"},
        "identities": [{"kind": "id", "value": "C-9001"}],
    }

    answer = await service.post("/chat/consent", json=body)

    assert answer.status == 200 and (await answer.json())["customer"] != victim
    log = await (await service.get(f"/api/v1/customers/{victim}/consent", headers=AUTH)).json()
    assert (log["emotion_processing"], log["identities"]) == ("off", 1)


async def test_looking_up_unknown_sessions_stores_nothing(aiohttp_client, settings: Settings) -> None:
    app = create_app(settings)
    app[CHAT_LIMITER] = RateLimiter(per_minute=1000, burst=1000)  # this test is about storage only
    client = await aiohttp_client(app)

    statuses = {
        (await client.get("/chat/consent", params={"session_id": signed(settings)})).status
        for _ in range(200)
    }

    assert statuses == {200}
    assert customer_rows(client.app[ENGINE]) == 0


async def test_the_switch_is_rate_limited_per_address(service: TestClient, settings: Settings) -> None:
    session_id = signed(settings)
    statuses = [
        (await service.get("/chat/consent", params={"session_id": session_id})).status for _ in range(30)
    ]
    refused = await service.post(
        "/chat/consent", json={"session_id": session_id, "emotion_processing": "off"}
    )

    assert statuses == [200] * 30
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
    assert (await refused.json())["error"] == "rate_limited"
    assert customer_rows(service.app[ENGINE]) == 0  # refused before anything was read or stored


def test_the_bucket_refills_with_time_and_counts_each_address_apart() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=30, burst=2, max_clients=2, clock=lambda: now[0])
    limiter.take("a")
    limiter.take("a")
    with pytest.raises(TooManyRequests) as refused:
        limiter.take("a")
    limiter.take("b")

    assert refused.value.retry_after == 2  # one token every 2 s at 30 a minute
    now[0] = 2.0
    limiter.take("a")
    with pytest.raises(TooManyRequests):
        limiter.take("a")
    limiter.take("c")  # "b" is forgotten (at most two addresses), and would start full again
    limiter.take("b")
