"""The evolution rule of the handoff payload (handoff/shared/payload_contract.py): within v1 fields
are only added,
and only as optional fields, so every payload an older action server could have queued is still
accepted, stored and shown.  Each shape below is one the action server has sent.
"""

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from bot.empathy.escalation import EscalationHistory, decide
from bot.empathy.policy import EmpathyPolicy
from bot.empathy.scoring import score_turn
from bot.empathy.signals import TurnObservation, compute_signals
from bot.empathy.tone import choose_tone
from handoff.app import create_app
from handoff.core.settings import Settings
from handoff.shared.payload_contract import (
    EMOTIONAL_FIELDS,
    VOLATILE_FIELDS,
    ContractError,
    fingerprint,
    validate_payload,
)
from handoff.shared.schema_file import EXAMPLE_FILE
from tests.support.console import log_in

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PASSWORD = "demo-password-123"


def example() -> dict[str, Any]:
    return copy.deepcopy(json.loads(EXAMPLE_FILE.read_text()))


def without(payload: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {name: value for name, value in payload.items() if name not in fields}


def engine_explanation() -> dict[str, Any]:
    """An explanation exactly as actions/empathy_tracking.py builds it today, from the real engine."""
    policy = EmpathyPolicy.from_mapping(yaml.safe_load((ROOT / "policy" / "empathy.yml").read_text()))
    before = TurnObservation(text="where is my order", intent="order_status")
    now = TurnObservation(
        text="THIRD TIME!!! still nothing, useless",
        emotion={"anger": 0.6, "frustration": 0.3, "sadness": 0.05, "fear": 0.05},
        intent="order_status",
        failed_attempts=3,
    )
    score = score_turn(compute_signals(now, before), 0.4, 0.1, policy)
    tone = choose_tone(score.frustration.value, score.distress.value, "warm", 2, policy.tone)
    decision = decide(3, score, False, 3, EscalationHistory(), policy.escalation)
    return {
        "turn": 3,
        "opted_out": False,
        **score.to_dict(),
        "tone": tone.to_dict(),
        "decision": decision.to_dict(),
        "policy_version": policy.version,
    }


def call_back() -> dict[str, Any]:
    return {
        "requested": True,
        "phone_masked": "•••••••3456",
        "phone": "+447911123456",
        "consent_at": "2026-03-10T12:00:00+00:00",
        "window": {
            "start": "2026-03-10T14:00:00+00:00",
            "end": "2026-03-10T14:30:00+00:00",
            "label": "today 14:00-14:30",
        },
        "timezone": "Europe/London",
    }


def opted_out() -> dict[str, Any]:
    payload = without(example(), *EMOTIONAL_FIELDS)
    payload["emotion_processing"] = {"enabled": False, "note": "The customer opted out of emotion analysis."}
    return payload


SHAPES = {
    # The first contract (0225d59): no per-message emotions.
    "first-contract": lambda: without(example(), "emotions", "language"),
    # The feedback loop (5ee52f7) added emotions.
    "with-emotions": lambda: without(example(), "language"),
    # Issue 16 added the trigger message's language: today's example.
    "with-language": example,
    "language-with-region": lambda: {**example(), "language": "pt-BR"},
    # Scheduled call-backs (90777fe): number, consent, window and timezone.
    "with-scheduled-call-back": lambda: {**example(), "callback": call_back(), "priority": "high"},
    "call-back-now": lambda: {**example(), "callback": {**call_back(), "window": None}},
    # What the engine writes today (scores' parts, sources, tone, decision, policy version).
    "engine-explanation": lambda: {**example(), "explanation": engine_explanation()},
    "opted-out": opted_out,
    "only-required-fields": lambda: without(example(), "callback", *EMOTIONAL_FIELDS),
    "no-call-back": lambda: {**example(), "callback": None},
    "created-at-in-zulu-with-nanoseconds": lambda: {
        **example(),
        "created_at": "2026-03-10T12:00:00.123456789Z",
    },
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_shape_an_action_server_has_sent_follows_the_contract(shape: str) -> None:
    payload = SHAPES[shape]()

    assert validate_payload(payload) == payload


@pytest.fixture
async def client(aiohttp_client, settings: Settings) -> TestClient:
    return await aiohttp_client(
        create_app(dataclasses.replace(settings, api_token=TOKEN, demo_password=PASSWORD))
    )


@pytest.mark.parametrize("shape", list(SHAPES))
async def test_every_shape_is_accepted_served_and_shown(client: TestClient, shape: str) -> None:
    payload = {**SHAPES[shape](), "idempotency_key": f"key-shape-{shape}"}

    created = await client.post("/api/v1/handoffs", json=payload, headers=AUTH)

    assert created.status == 201, await created.text()
    handoff_id = (await created.json())["id"]
    served = await (await client.get(f"/api/v1/handoffs/{handoff_id}", headers=AUTH)).json()
    assert "payload_problem" not in served
    await log_in(client, "admin", PASSWORD)
    page = await client.get(f"/console/handoffs/{handoff_id}")
    assert page.status == 200 and 'id="payload-problem"' not in await page.text()


@pytest.mark.parametrize("language", ["", "EN", "en\n", "english", "en-", 7, None])
def test_a_language_that_is_not_a_language_tag_breaks_the_contract(language: object) -> None:
    with pytest.raises(ContractError) as error:
        validate_payload({**example(), "language": language})
    assert error.value.path == "language"


def test_volatile_fields_are_left_out_of_the_fingerprint_and_nothing_else_is() -> None:
    payload = example()

    assert {"created_at"} == VOLATILE_FIELDS
    assert fingerprint({**payload, "created_at": "2026-03-11T00:00:00Z"}) == fingerprint(payload)
    assert fingerprint({**payload, "summary": "another"}) != fingerprint(payload)
