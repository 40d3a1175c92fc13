"""The empathy engine's decisions become audit entries, queued on disk and delivered to the real
handoff service on loopback, also when it was down at the time.
"""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import resources
from actions.audit_queue import AuditQueue, flush_once
from actions.audit_trail import entries_for_turn
from actions.clients.audit import AuditClient
from actions.empathy_tracking import ActionTrackEmpathy
from actions.handoff_payload import pseudonym
from handoff.app import create_app
from handoff.audit import audit_log
from handoff.core.db import create_engine_for
from handoff.core.settings import Settings
from tests.support.ports import free_port
from tests.support.trackers import message, tracker

TOKEN = "audit-trail-test-token-0000"


async def turn(slots: dict[str, Any], events: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """Runs action_track_empathy's scoring; returns the tracker it saw and all the turn decided
    (what the action gives the audit trail; Rasa stores fewer, tests/actions/test_empathy_tracking.py).
    """
    seen = tracker(slots, events)
    return seen, ActionTrackEmpathy().track(seen)


def slot_values(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events}


async def test_a_tone_change_and_an_offer_are_recorded_with_their_explanation() -> None:
    seen, events = await turn({}, [message("YOU LOST MY PARCEL, USELESS!!!", "complain", emotion="anger")])

    entries = entries_for_turn(seen, events)

    assert [e["kind"] for e in entries] == ["tone_change", "offer_human"]
    tone, offer = entries
    assert tone["summary"].startswith("Tone changed from neutral to calm_direct: frustration")
    assert tone["explanation"]["tone"]["tone"] == "calm_direct"
    assert tone["inputs"]["frustration"]["contributions"]["shouting"]["value"] > 0.5
    assert "emotion model" in tone["sources"] and "message cues" in tone["sources"]
    assert offer["summary"].startswith("Offered a person (normal priority): frustration")
    assert offer["explanation"]["decision"]["decision"] == "offer_human"
    assert {e["conversation_id"] for e in entries} == {"test-customer"}
    assert all(e["actor"] == "empathy engine" and e["customer"].startswith("cust-") for e in entries)
    assert len({e["key"] for e in entries}) == 2


async def test_entries_name_the_verified_customer_never_one_a_client_claims() -> None:
    angry = message("YOU LOST MY PARCEL, USELESS!!!", "complain", emotion="anger")
    claim = {"customer_id": "C-9001", "customer": {"id": "C-9001"}}
    gate = {"attune": {"customer": "cust-0123456789abcdef", "emotion_processing": "on", "identities": []}}

    claimed = entries_for_turn(*await turn({}, [{**angry, "metadata": claim}]))
    gated = entries_for_turn(*await turn({}, [{**angry, "metadata": {**claim, **gate}}]))

    assert {e["customer"] for e in claimed} == {pseudonym("test-customer")}
    assert {e["customer"] for e in gated} == {"cust-0123456789abcdef"}


async def test_a_tone_that_stays_the_same_is_not_recorded_again() -> None:
    first_seen, first = await turn(
        {}, [message("YOU LOST MY PARCEL, USELESS!!!", "complain", emotion="anger")]
    )
    state = slot_values(first)
    history = [
        message("YOU LOST MY PARCEL, USELESS!!!", "complain", emotion="anger", timestamp=0.0),
        {"event": "bot", "text": "ok", "timestamp": 1.0},
        message("STILL NOTHING!!!", "complain", emotion="anger", timestamp=30.0),
    ]

    seen, events = await turn(state, history)

    assert slot_values(events)["tone"] == state["tone"] == "calm_direct"
    assert [e["kind"] for e in entries_for_turn(seen, events)] == []  # same tone, offer in cooldown
    assert [e["kind"] for e in entries_for_turn(first_seen, first)] == ["tone_change", "offer_human"]


async def test_a_calm_turn_records_nothing() -> None:
    seen, events = await turn({}, [message("where is order 10002", "order_status")])

    assert entries_for_turn(seen, events) == []


async def test_an_opted_out_customers_entries_carry_no_emotional_data() -> None:
    angry = message("GET ME A HUMAN, YOU ARE USELESS!!!", "request_human", emotion="anger")
    seen, events = await turn({"emotion_opt_out": True, "tone": "apologetic", "failed_attempts": 2}, [angry])

    entries = entries_for_turn(seen, events)

    assert [e["kind"] for e in entries] == ["tone_change", "handoff"]
    assert all(e["opted_out"] for e in entries)
    text = json.dumps(entries)
    for emotional in ("frustration", "distress", "anger", "probabilities", "apologetic", "contributions"):
        assert emotional not in text, emotional
    handoff = entries[1]
    assert handoff["inputs"] == {
        "turn": 1,
        "intent": "request_human",
        "explicit_request": True,
        "failed_attempts": 2,
        "emotion_processing": "off",
    }
    assert handoff["explanation"]["decision"]["reasons"] == ["the customer asked for a human"]
    assert handoff["sources"] == ["intent", "self-service outcomes"]


async def test_entries_wait_on_disk_while_the_service_is_down_and_arrive_once_it_is_back(
    aiohttp_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("ATTUNE_HANDOFF_API_TOKEN", TOKEN)
    shouted = message("YOU LOST MY PARCEL, USELESS!!!", "complain", emotion="anger")

    # nothing listens on the port yet
    events = await ActionTrackEmpathy().run(CollectingDispatcher(), tracker({}, [shouted]), {})

    assert slot_values(events)["tone"] == "calm_direct"  # the customer's turn went on as usual
    queue = resources.audit_queue()
    assert queue.pending_count() == 2
    service = Settings(
        database_url=f"sqlite:///{tmp_path / 'handoff.db'}", log_format="text", api_token=TOKEN
    )
    await aiohttp_server(create_app(service), port=port)
    deadline = time.monotonic() + 30
    while queue.pending_count():  # the background sender retries with backoff on its own
        assert time.monotonic() < deadline, "the queued entries were never delivered"
        await asyncio.sleep(0.1)

    engine = create_engine_for(service.database_url)
    stored = audit_log.for_conversation(engine, "test-customer")
    assert [r.entry.kind for r in stored] == ["tone_change", "offer_human"]
    assert all(r.intact for r in stored) and audit_log.verify(engine).ok


async def test_a_retried_entry_is_stored_once_and_a_malformed_one_is_kept_with_the_reason(
    aiohttp_server, tmp_path: Path
) -> None:
    service = Settings(
        database_url=f"sqlite:///{tmp_path / 'handoff.db'}", log_format="text", api_token=TOKEN
    )
    server = await aiohttp_server(create_app(service))
    client = AuditClient(str(server.make_url("")).rstrip("/"), TOKEN)
    seen, events = await turn({}, [message("YOU LOST MY PARCEL, USELESS!!!", "complain", emotion="anger")])
    entries = entries_for_turn(seen, events)
    bad = {**entries[0], "key": "engine-bad", "kind": "mood_swing"}
    first = AuditQueue.open(f"sqlite:///{tmp_path / 'a.db'}")
    second = AuditQueue.open(f"sqlite:///{tmp_path / 'b.db'}")  # the response was lost: sent again

    assert first.put_all([entries[0], bad, entries[1]]) == 3
    assert first.put_all(entries) == 0  # already queued
    second.put_all(entries)
    assert await flush_once(first, client) == 2
    assert await flush_once(second, client) == 2

    engine = create_engine_for(service.database_url)
    assert audit_log.verify(engine).count == 2
    rejected = first.get("engine-bad")
    assert rejected is not None and rejected.status == "rejected"
    assert rejected.last_error is not None and "kind must be one of" in rejected.last_error
    assert first.pending_count() == 0 and first.get(entries[0]["key"]) is None  # delivered: not kept


async def test_the_queue_keeps_decision_order_while_the_oldest_entry_waits(tmp_path: Path) -> None:
    queue = AuditQueue.open(f"sqlite:///{tmp_path / 'queue.db'}")
    queue.put_all([{"key": "a"}, {"key": "b"}], now=100.0)
    queue.failed("a", "service down", now=100.0)  # retried in 2 s

    assert queue.due(now=101.0) == []  # b waits behind a
    assert [q.key for q in queue.due(now=102.5)] == ["a", "b"]


async def test_a_wrong_token_is_retried_not_given_up(aiohttp_server, tmp_path: Path) -> None:
    service = Settings(
        database_url=f"sqlite:///{tmp_path / 'handoff.db'}", log_format="text", api_token=TOKEN
    )
    server = await aiohttp_server(create_app(service))
    queue = AuditQueue.open(f"sqlite:///{tmp_path / 'queue.db'}")
    seen, events = await turn({}, [message("YOU LOST MY PARCEL, USELESS!!!", "complain", emotion="anger")])
    queue.put_all(entries_for_turn(seen, events))

    sent = await flush_once(queue, AuditClient(str(server.make_url("")).rstrip("/"), "wrong-token-0000000"))

    assert sent == 0 and queue.pending_count() == 2
