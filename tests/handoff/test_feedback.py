"""Agents flag wrong emotion readings; supervisors review; accepted ones export as training data."""

import dataclasses
from pathlib import Path

import yaml
from aiohttp.test_utils import TestClient

from bot.cli import main as attune
from bot.empathy.emotions import EMOTIONS, parse_emotion_data
from handoff.app import create_app
from handoff.console import feedback
from handoff.core.app_keys import ENGINE
from handoff.core.settings import Settings
from handoff.shared.payload_contract import EMOTION_LABELS
from tests.support.console import PASSWORD, log_in, new_client
from tests.support.handoffs import add_handoff, add_handoff_row


def test_the_contract_names_the_same_emotions_as_the_model() -> None:
    assert tuple(EMOTION_LABELS) == tuple(EMOTIONS)


async def test_a_flag_goes_to_review_and_an_accepted_one_becomes_a_masked_training_example(
    aiohttp_client, settings: Settings, tmp_path: Path
) -> None:
    service = await aiohttp_client(create_app(dataclasses.replace(settings, demo_password=PASSWORD)))
    handoff_id = await add_handoff(service)
    agent_token = await log_in(service, "agent", PASSWORD)
    supervisor = await new_client(aiohttp_client, service)
    supervisor_token = await log_in(supervisor, "supervisor", PASSWORD)

    page = await (await service.get(f"/console/handoffs/{handoff_id}")).text()
    assert 'id="readings"' in page
    flagged = await service.post(
        f"/console/handoffs/{handoff_id}/flags",
        data={"csrf_token": agent_token, "turn": "2", "label": "anger"},
    )
    assert "flagged for review" in await flagged.text()
    assert (await service.get("/console/flags")).status == 403  # agents do not review

    review = await (await supervisor.get("/console/flags")).text()
    assert "it&#39;s 55556!! still nothing" in review
    flag_id = feedback.flags(service.app[ENGINE])[0].id
    await supervisor.post(
        f"/console/flags/{flag_id}", data={"csrf_token": supervisor_token, "decision": "accept"}
    )

    text, count = feedback.export_yaml(service.app[ENGINE])
    examples = parse_emotion_data(yaml.safe_load(text), source="feedback")
    assert count == 1
    assert [(e.text, e.emotion) for e in examples] == [("it's 55556!! still nothing", "anger")]
    assert "Nothing to review" in await (await supervisor.get("/console/flags")).text()


async def test_flags_that_make_no_sense_are_refused(aiohttp_client, settings: Settings) -> None:
    service: TestClient = await aiohttp_client(
        create_app(dataclasses.replace(settings, demo_password=PASSWORD))
    )
    handoff_id = await add_handoff(service)
    token = await log_in(service, "agent", PASSWORD)

    async def flag(turn: str, label: str) -> int:
        response = await service.post(
            f"/console/handoffs/{handoff_id}/flags", data={"csrf_token": token, "turn": turn, "label": label}
        )
        return response.status

    assert await flag("2", "frustration") == 400  # that is what the model said
    assert await flag("2", "grumpy") == 400
    assert await flag("99", "anger") == 400
    assert await flag("2", "anger") == 200
    assert await flag("2", "anger") == 409


def test_masked_export_and_the_command(tmp_path: Path, settings: Settings) -> None:
    from handoff.core.db import create_engine_for
    from handoff.core.migrate import upgrade_to_head
    from handoff.core.models import EmotionFlag

    upgrade_to_head(settings.database_url)
    engine = create_engine_for(settings.database_url)
    out = tmp_path / "emotions_feedback.yml"

    assert attune(["feedback", "export", "--database-url", settings.database_url, "--out", str(out)]) == 0
    assert not out.exists()  # nothing accepted: no file that would fail validation

    from sqlalchemy.orm import Session

    from handoff.core.accounts import create_agent

    reviewer = create_agent(engine, "rev", "Rev", "rev-password-1", "supervisor")
    add_handoff_row(engine, status="resolved")
    with Session(engine) as session, session.begin():
        session.add(
            EmotionFlag(
                handoff_id="h1",
                turn=1,
                text="mail me at ada@example.com NOW",
                predicted="neutral",
                corrected="anger",
                flagged_by=reviewer.id,
                status="accepted",
            )
        )

    assert attune(["feedback", "export", "--database-url", settings.database_url, "--out", str(out)]) == 0
    examples = parse_emotion_data(yaml.safe_load(out.read_text()), source=str(out))
    assert [(e.text, e.emotion) for e in examples] == [("mail me at a***@example.com NOW", "anger")]
