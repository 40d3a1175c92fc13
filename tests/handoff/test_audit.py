"""The audit log: a hash chain that shows tampering, its API, the console page and `attune audit verify`."""

import asyncio
import copy
import dataclasses
import json
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.cli import main as attune
from handoff.app import create_app
from handoff.audit import audit_log
from handoff.callbacks import call_jobs
from handoff.callbacks.call_jobs import TwilioAccount
from handoff.core.app_keys import ENGINE
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import AuditEntry
from handoff.core.settings import Settings
from handoff.shared.audit_entry import ENGINE_ACTOR, NewEntry
from handoff.shared.schema_file import EXAMPLE_FILE
from tests.support.console import PASSWORD, csrf, log_in
from tests.support.handoffs import add_handoff_row

TOKEN = "audit-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NO_CREDENTIALS = TwilioAccount(None, None, None, "https://attune.example")


def entry(n: int = 1, conversation: str = "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f", **changes: Any) -> NewEntry:
    values: dict[str, Any] = {
        "key": f"engine-{conversation}-{n}",
        "conversation_id": conversation,
        "customer": "cust-eb3b0c332dcd5989",
        "kind": "offer_human",
        "actor": ENGINE_ACTOR,
        "summary": f"Offered a person (normal priority): 2 failed self-service attempts >= 2 [{n}]",
        "explanation": {"rule": "offer a person", "decision": {"decision": "offer_human", "turn": n}},
        "inputs": {"turn": n, "failed_attempts": 2, "frustration": {"score": 0.31}},
        "sources": ("intent", "self-service outcomes"),
        "opted_out": False,
        "created_at": datetime(2026, 3, 10, 12, 0, n % 60, tzinfo=timezone.utc),
    }
    return NewEntry(**{**values, **changes})


def document(n: int = 1, **changes: Any) -> dict[str, Any]:
    """An entry as the action server sends it."""
    return {
        "key": f"engine-api-{n}",
        "conversation_id": "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f",
        "customer": "cust-eb3b0c332dcd5989",
        "kind": "tone_change",
        "actor": "empathy engine",
        "summary": "Tone changed from neutral to apologetic: frustration 0.52 / distress 0.05",
        "explanation": {"rule": "tone rule", "tone": {"tone": "apologetic", "reason": "frustration 0.52"}},
        "inputs": {"turn": 2, "frustration": {"score": 0.52, "contributions": {"shouting": {"value": 1}}}},
        "sources": ["emotion model", "message cues"],
        "opted_out": False,
        "created_at": "2026-03-10T12:00:05+00:00",
        **changes,
    }


@pytest.fixture
def engine(settings: Settings) -> Engine:
    upgrade_to_head(settings.database_url)
    return create_engine_for(settings.database_url)


def test_appended_entries_form_one_chain_that_verifies(engine: Engine) -> None:
    records = [audit_log.append(engine, entry(n))[0] for n in range(1, 4)]

    assert [r.seq for r in records] == [1, 2, 3]
    assert records[0].prev_hash == audit_log.GENESIS
    assert records[1].prev_hash == records[0].entry_hash and records[2].prev_hash == records[1].entry_hash
    result = audit_log.verify(engine)
    assert result.ok and result.count == 3 and result.head == records[2].entry_hash
    assert [r.seq for r in audit_log.for_conversation(engine, "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f")] == [
        1,
        2,
        3,
    ]
    assert all(r.intact for r in audit_log.for_conversation(engine, "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f"))


def test_the_same_decision_delivered_twice_is_stored_once(engine: Engine) -> None:
    first, created = audit_log.append(engine, entry(1))
    again, created_again = audit_log.append(engine, entry(1))

    assert created and not created_again
    assert again.seq == first.seq and again.entry_hash == first.entry_hash
    assert audit_log.verify(engine).count == 1


def test_an_edited_entry_is_found_by_verify_and_by_the_command(engine: Engine, settings: Settings) -> None:
    for n in range(1, 6):
        audit_log.append(engine, entry(n))
    with Session(engine) as session, session.begin():
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(summary="Nothing was offered"))

    result = audit_log.verify(engine)

    assert not result.ok and result.count == 2
    assert result.broken == audit_log.Broken(
        3, "its content does not match its hash (edited after it was written)"
    )
    assert [r.intact for r in audit_log.for_conversation(engine, "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f")] == [
        True,
        True,
        False,
        True,
        True,
    ]
    assert attune(["audit", "verify", "--database-url", settings.database_url]) == 1


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(engine: Engine) -> None:
    for n in range(1, 4):
        audit_log.append(engine, entry(n))
    with Session(engine) as session, session.begin():
        row = session.execute(select(AuditEntry).where(AuditEntry.seq == 2)).scalar_one()
        row.inputs_json = json.dumps({"turn": 2, "failed_attempts": 0})
        forged = audit_log._entry(row)
        row.body_hash = audit_log.body_hash(forged, row.salt)
        row.entry_hash = audit_log.chain_hash(
            row.prev_hash, audit_log.record_of(2, forged, row.recorded_at, row.body_hash)
        )

    broken = audit_log.verify(engine).broken

    assert broken is not None and broken.seq == 3 and "previous-hash" in broken.reason


def test_a_deleted_entry_in_the_middle_is_found(engine: Engine, settings: Settings, capsys) -> None:
    for n in range(1, 6):
        audit_log.append(engine, entry(n))
    with Session(engine) as session, session.begin():
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 3))

    result = audit_log.verify(engine)

    assert (
        result.broken is not None and result.broken.seq == 4 and "entry 3 is missing" in result.broken.reason
    )
    assert attune(["audit", "verify", "--database-url", settings.database_url]) == 1
    assert "TAMPERED: entry 4: entry 3 is missing" in capsys.readouterr().out


def test_entries_removed_from_the_end_or_added_past_the_head_are_found(engine: Engine) -> None:
    for n in range(1, 5):
        audit_log.append(engine, entry(n))
    with Session(engine) as session, session.begin():
        session.execute(delete(AuditEntry).where(AuditEntry.seq >= 3))

    truncated = audit_log.verify(engine).broken

    assert truncated is not None and truncated.seq == 4 and "missing from the end" in truncated.reason

    with Session(engine) as session, session.begin():
        session.execute(update(audit_log.AuditHead).values(seq=2, entry_hash=audit_log.verify(engine).head))
    assert audit_log.verify(engine).ok
    with Session(engine) as session, session.begin():
        row = session.execute(select(AuditEntry).where(AuditEntry.seq == 2)).scalar_one()
        session.add(
            AuditEntry(
                **{c.name: getattr(row, c.name) for c in AuditEntry.__table__.columns if c.name != "id"}
                | {"seq": 3, "key": "smuggled", "prev_hash": row.entry_hash}
            )
        )

    beyond = audit_log.verify(engine).broken

    assert beyond is not None and beyond.seq == 3 and "beyond the chain's head" in beyond.reason


def test_an_edited_record_field_is_found(engine: Engine) -> None:
    audit_log.append(engine, entry(1))
    with Session(engine) as session, session.begin():
        session.execute(update(AuditEntry).values(kind="tone_change"))

    broken = audit_log.verify(engine).broken

    assert broken is not None and broken.seq == 1 and "its record" in broken.reason


def test_an_erasure_redacts_entries_and_the_chain_still_verifies(engine: Engine, settings: Settings) -> None:
    for n in range(1, 4):
        audit_log.append(
            engine,
            entry(n, conversation="+447700900123" if n == 2 else "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f"),
        )
    with Session(engine) as session, session.begin():
        rows = session.execute(
            select(AuditEntry).where(AuditEntry.conversation_id == "+447700900123")
        ).scalars()
        assert audit_log.redact(session, rows) == 1
    audit_log.record_erasure(engine, "0123456789abcdef", {"handoffs": 1, "audit_entries_redacted": 1})

    result = audit_log.verify(engine)

    assert result.ok and result.count == 4 and result.redacted == 1
    with Session(engine) as session:
        texts = [" ".join(str(v) for v in row) for row in session.execute(select(AuditEntry.__table__)).all()]
    assert not any("+447700900123" in t or "cust-eb3b0c332dcd5989 " in t for t in texts[1:2])
    assert "0123456789abcdef" in texts[3] and "erasure" in texts[3]
    assert attune(["audit", "verify", "--database-url", settings.database_url]) == 0


def test_a_redaction_is_no_cover_for_an_edit_of_another_entry(engine: Engine) -> None:
    for n in range(1, 4):
        audit_log.append(engine, entry(n))
    with Session(engine) as session, session.begin():
        session.execute(
            update(AuditEntry).where(AuditEntry.seq == 3).values(summary="Offered nothing", redacted=None)
        )

    broken = audit_log.verify(engine).broken

    assert broken is not None and broken.seq == 3


def test_the_retention_period_redacts_old_entries_and_says_so(engine: Engine) -> None:
    old = datetime(2024, 1, 1, tzinfo=timezone.utc)
    audit_log.append(engine, entry(1, created_at=old))
    audit_log.append(engine, entry(2))
    cutoff = datetime(2025, 1, 1, tzinfo=timezone.utc)

    assert audit_log.expire(engine, cutoff) == 1
    assert audit_log.expire(engine, cutoff) == 0  # already done: nothing more, no second entry

    result = audit_log.verify(engine)
    assert result.ok and result.count == 3 and result.redacted == 1
    kept = audit_log.for_conversation(engine, "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f")
    assert [r.seq for r in kept] == [2]
    [note] = audit_log.for_conversation(engine, "retention")
    assert note.entry.kind == "retention" and note.entry.inputs["redacted"] == 1


def test_the_command_says_ok_with_the_number_of_entries(engine: Engine, settings: Settings, capsys) -> None:
    assert attune(["audit", "verify", "--database-url", settings.database_url]) == 0
    assert "OK: 0 audit entries" in capsys.readouterr().out
    for n in range(1, 4):
        audit_log.append(engine, entry(n))

    assert attune(["audit", "verify", "--database-url", settings.database_url]) == 0
    assert "OK: 3 audit entries, hash chain intact" in capsys.readouterr().out


def test_the_command_refuses_a_database_that_is_not_there(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nowhere.db"

    assert attune(["audit", "verify", "--database-url", f"sqlite:///{missing}"]) == 2
    assert not missing.exists() and "no database" in capsys.readouterr().err


def test_concurrent_appends_from_threads_keep_one_chain(engine: Engine) -> None:
    threads, per_thread = 8, 15
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def writer(worker: int) -> None:
        start.wait()
        try:
            for n in range(per_thread):
                audit_log.append(engine, entry(n, conversation=f"conv-{worker}"))
        except BaseException as error:  # surfaced below: a thread's exception would vanish
            failures.append(error)

    workers = [threading.Thread(target=writer, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert failures == []
    result = audit_log.verify(engine)
    assert result.ok and result.count == threads * per_thread
    with Session(engine) as session:
        seqs = session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars().all()
        prevs = session.execute(select(AuditEntry.prev_hash)).scalars().all()
    assert seqs == list(range(1, threads * per_thread + 1))
    assert len(set(prevs)) == len(prevs)  # no two entries chain from the same one: no fork


def test_an_opted_out_customers_entry_keeps_no_emotional_data(engine: Engine) -> None:
    sent = entry(
        1,
        opted_out=True,
        summary="Offered a person (normal priority): frustration 0.71 >= 0.6",
        explanation={
            "decision": {"reasons": ["frustration 0.71 >= 0.6", "2 failed self-service attempts >= 2"]}
        },
        inputs={
            "turn": 3,
            "failed_attempts": 2,
            "frustration": {"score": 0.71},
            "emotions": [{"top": "anger"}],
        },
    )

    stored, _ = audit_log.append(engine, sent)

    text = json.dumps(stored.to_dict())
    assert "0.71" not in text and "anger" not in text and '"frustration"' not in text
    assert stored.entry.explanation == {"decision": {"reasons": ["2 failed self-service attempts >= 2"]}}
    assert stored.entry.inputs == {"turn": 3, "failed_attempts": 2}
    assert audit_log.verify(engine).ok


# --- the API ----------------------------------------------------------------------------
@pytest.fixture
async def service(aiohttp_client, settings: Settings) -> TestClient:
    return await aiohttp_client(
        create_app(dataclasses.replace(settings, api_token=TOKEN, demo_password=PASSWORD))
    )


async def test_the_api_stores_an_entry_once(service: TestClient) -> None:
    first = await service.post("/api/v1/audit", json=document(), headers=AUTH)
    again = await service.post("/api/v1/audit", json=document(), headers=AUTH)

    assert first.status == 201 and (await first.json())["seq"] == 1
    assert again.status == 200 and (await again.json()) | {"hash": None} == {
        "seq": 1,
        "duplicate": True,
        "hash": None,
    }
    stored = audit_log.for_conversation(service.app[ENGINE], "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f")
    assert [(r.entry.kind, r.entry.created_at.isoformat()) for r in stored] == [
        ("tone_change", "2026-03-10T12:00:05+00:00")
    ]


async def test_the_api_refuses_a_missing_or_wrong_token(service: TestClient) -> None:
    missing = await service.post("/api/v1/audit", json=document())
    wrong = await service.post("/api/v1/audit", json=document(), headers={"Authorization": "Bearer nope"})

    assert missing.status == 401 and wrong.status == 401
    assert (await wrong.json())["error"] == "unauthorized"
    assert audit_log.verify(service.app[ENGINE]).count == 0


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"kind": "mood_swing"}, "kind must be one of tone_change"),
        ({"kind": "handoff_accepted"}, "kind must be one of"),  # the service writes its own
        ({"actor": "handoff service"}, "actor must be one of empathy engine"),
        ({"key": ""}, "key must be a non-empty string"),
        ({"conversation_id": 42}, "conversation_id must be a non-empty string"),
        ({"explanation": ["not", "an", "object"]}, "explanation must be a JSON object"),
        ({"sources": "emotion model"}, "sources must be a list of strings"),
        ({"opted_out": "yes"}, "opted_out must be true or false"),
        ({"created_at": "yesterday"}, "created_at must be an RFC 3339 time"),
        ({"created_at": "2026-03-10T12:00:05"}, "created_at must be an RFC 3339 time with its offset"),
    ],
)
async def test_the_api_refuses_malformed_entries_with_the_reason(
    service: TestClient, changes: dict[str, Any], reason: str
) -> None:
    response = await service.post("/api/v1/audit", json=document(**changes), headers=AUTH)

    body = await response.json()
    assert response.status == 400 and body["error"] == "invalid_request"
    assert reason in body["detail"]


async def test_the_api_refuses_what_is_not_one_json_object(service: TestClient) -> None:
    listed = await service.post("/api/v1/audit", json=[document()], headers=AUTH)
    broken = await service.post(
        "/api/v1/audit", data="{", headers={**AUTH, "Content-Type": "application/json"}
    )

    assert listed.status == 400 and "one audit entry" in (await listed.json())["detail"]
    assert broken.status == 400 and (await broken.json())["error"] == "invalid_json"


async def test_an_opted_out_entry_sent_with_scores_is_stored_without_them(service: TestClient) -> None:
    response = await service.post("/api/v1/audit", json=document(opted_out=True), headers=AUTH)

    assert response.status == 201
    stored = audit_log.for_conversation(service.app[ENGINE], "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f")[
        0
    ].to_dict()
    assert "0.52" not in json.dumps(stored) and "frustration" not in json.dumps(stored["inputs"])
    assert stored["opted_out"] is True and stored["inputs"] == {"turn": 2}


# --- the handoff service's own decisions ------------------------------------------------
def handoff_payload(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(json.loads(EXAMPLE_FILE.read_text())), **changes}


async def test_accepting_a_handoff_records_why_and_with_which_priority(service: TestClient) -> None:
    await service.post("/api/v1/handoffs", json=handoff_payload(), headers=AUTH)
    await service.post("/api/v1/handoffs", json=handoff_payload(), headers=AUTH)  # a retry: no new entry

    [accepted] = audit_log.for_conversation(service.app[ENGINE], "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f")
    assert accepted.entry.kind == "handoff_accepted" and accepted.entry.actor == "handoff service"
    assert "frustration, normal priority" in accepted.entry.summary
    assert accepted.entry.explanation["trigger"]["decision"] == "offer_human"
    assert accepted.entry.explanation["engine"]["frustration"]["score"] == 0.65
    assert accepted.entry.customer == "cust-eb3b0c332dcd5989"


async def test_an_opted_out_handoff_is_recorded_without_emotional_data(service: TestClient) -> None:
    payload = handoff_payload(idempotency_key="opted-out-0000000000000000")
    payload["emotion_processing"] = {"enabled": False, "note": "opted out"}
    payload["trigger"]["reasons"] = ["2 failed self-service attempts >= 2"]
    for field in ("trajectory", "tone", "emotions", "explanation"):
        payload.pop(field)
    response = await service.post("/api/v1/handoffs", json=payload, headers=AUTH)
    assert response.status == 201, await response.text()

    [accepted] = audit_log.for_conversation(service.app[ENGINE], "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f")

    assert accepted.entry.opted_out and "engine" not in accepted.entry.explanation
    assert accepted.entry.inputs["emotion_processing"] == "off"


def test_a_call_back_is_recorded_when_scheduled_placed_and_finished(engine: Engine) -> None:
    add_handoff_row(engine)
    job = call_jobs.request_call(engine, "h1", "+447911123456", key="callback-audit")
    call_jobs.place_call(engine, job.id, NO_CREDENTIALS, lambda: None)
    real = call_jobs.request_call(engine, "h1", "+447911123456", key="callback-audit-2")
    with Session(engine) as session, session.begin():  # as if Twilio had queued the second one
        row = session.get(call_jobs.CallJob, real.id)
        row.status, row.attempts, row.twilio_sid = "queued", 1, "CA123"
    call_jobs.record_status(engine, real.id, "ringing", "CA123")
    call_jobs.record_status(engine, real.id, "no-answer", "CA123")  # one retry is decided

    kinds = [
        (r.entry.kind, r.entry.summary) for r in audit_log.for_conversation(engine, "rest:conversation-h1")
    ]

    assert [k for k, _ in kinds] == [
        "callback_scheduled",
        "callback_placed",
        "callback_scheduled",
        "callback_status",
    ]
    assert "simulated" in kinds[1][1]
    assert "no-answer; trying once more" in kinds[3][1]
    logged = [r.to_dict() for r in audit_log.for_conversation(engine, "rest:conversation-h1")]
    text = json.dumps(logged, ensure_ascii=False)
    assert "+447911123456" not in text and "••••56" in text  # numbers never enter the log
    assert audit_log.verify(engine).ok


# --- the console ------------------------------------------------------------------------
async def test_supervisors_read_a_conversations_log_and_agents_may_not(
    service: TestClient, aiohttp_client
) -> None:
    await service.post("/api/v1/audit", json=document(), headers=AUTH)
    created = await service.post("/api/v1/handoffs", json=handoff_payload(), headers=AUTH)
    handoff_id = (await created.json())["id"]

    await log_in(service, "agent", PASSWORD)
    refused = await service.get("/console/audit?conversation=web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f")
    agent_page = await (await service.get(f"/console/handoffs/{handoff_id}")).text()
    assert refused.status == 403
    assert 'id="audit-link"' not in agent_page

    supervisor = await aiohttp_client(service.server)
    await log_in(supervisor, "supervisor", PASSWORD)
    handoff_page = await (await supervisor.get(f"/console/handoffs/{handoff_id}")).text()
    assert 'href="/console/audit?conversation=web%3A6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f"' in handoff_page
    page = await supervisor.get("/console/audit?conversation=web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f")
    html = await page.text()
    assert page.status == 200
    assert 'class="audit-tone_change"' in html and 'class="audit-handoff_accepted"' in html
    assert "Tone changed from neutral to apologetic" in html and "matches its hash" in html
    assert csrf(html)  # the page carries the logout form like every console page


async def test_the_console_shows_an_altered_entry(service: TestClient) -> None:
    await service.post("/api/v1/audit", json=document(), headers=AUTH)
    with Session(service.app[ENGINE]) as session, session.begin():
        session.execute(update(AuditEntry).values(summary="Tone unchanged"))
    await log_in(service, "admin", PASSWORD)

    html = await (
        await service.get("/console/audit?conversation=web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f")
    ).text()

    assert "ALTERED" in html


async def test_the_console_needs_a_login(service: TestClient) -> None:
    response = await service.get(
        "/console/audit?conversation=web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f", allow_redirects=False
    )

    assert response.status == 303 and response.headers["Location"] == "/console/login"


async def test_an_empty_search_and_an_unknown_conversation(service: TestClient) -> None:
    await log_in(service, "supervisor", PASSWORD)

    empty = await (await service.get("/console/audit")).text()
    unknown = await (await service.get("/console/audit?conversation=nobody")).text()

    assert 'id="conversation"' in empty and 'id="no-entries"' not in empty
    assert 'id="no-entries"' in unknown


async def test_appends_from_the_api_and_the_service_at_once_keep_one_chain(service: TestClient) -> None:
    posts = [service.post("/api/v1/audit", json=document(n), headers=AUTH) for n in range(20)]
    handoffs = [
        service.post(
            "/api/v1/handoffs", json=handoff_payload(idempotency_key=f"parallel-{n:030d}"), headers=AUTH
        )
        for n in range(5)
    ]

    responses = await asyncio.gather(*posts, *handoffs)

    assert all(r.status == 201 for r in responses)
    result = audit_log.verify(service.app[ENGINE])
    assert result.ok and result.count == 25


async def test_a_role_without_distress_indicators_reads_the_log_without_scores(
    aiohttp_client, settings: Settings, tmp_path: Path
) -> None:
    policy = tmp_path / "access.yml"
    policy.write_text(
        "distress_indicators: [admin]\nphone_numbers: [supervisor, admin]\n"
        "unmasked_transcripts: [supervisor, admin]\nreview_flags: [supervisor, admin]\n"
        "audit_log: [supervisor, admin]\n"
    )
    service = await aiohttp_client(
        create_app(
            dataclasses.replace(
                settings, api_token=TOKEN, demo_password=PASSWORD, access_policy_file=str(policy)
            )
        )
    )
    await service.post("/api/v1/audit", json=document(), headers=AUTH)
    await log_in(service, "supervisor", PASSWORD)

    html = await (
        await service.get("/console/audit?conversation=web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f")
    ).text()

    assert "0.52" not in html and "distress indicators are not shown to your role" in html
    assert "matches its hash" in html  # what is shown is withheld, what is stored is intact


def test_an_entry_document_reads_back_as_the_same_entry() -> None:
    """The action server builds entries with the shared contract; the service parses them back unchanged."""
    from handoff.shared.audit_entry import ENGINE_ACTOR, NewEntry, parse_entry

    entry = NewEntry(
        key="k-1",
        conversation_id="sms:+447700900123",
        customer="cust-1",
        kind="tone_change",
        actor=ENGINE_ACTOR,
        summary="Tone changed from neutral to warm",
        explanation={"rule": "frustration above 0.5"},
        inputs={"turn": 3},
        sources=("data/nlu",),
        opted_out=False,
        created_at=datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc),
    )

    assert parse_entry(entry.to_document()) == entry
