"""The designer's playground over HTTP: a real app on SQLite, a local server speaking Rasa's /model/parse
(tests/support/fake_rasa.py), and a copy of policy/empathy.yml in tmp_path that saves write to.
"""

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.audit import audit_log
from handoff.core.app_keys import ENGINE
from handoff.core.settings import Settings
from handoff.playground import policy_draft
from tests.support.console import PASSWORD, log_in
from tests.support.fake_rasa import FakeRasa

ROOT = Path(__file__).resolve().parents[3]
WEIGHT = "frustration.weights.negative_emotion"
ANGRY = "this is useless!! where is my order"


@pytest.fixture
def fake() -> FakeRasa:
    return FakeRasa()


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    copy = tmp_path / "empathy.yml"
    shutil.copy(ROOT / "policy" / "empathy.yml", copy)
    return copy


@pytest.fixture
async def service(
    aiohttp_client, aiohttp_server, settings: Settings, fake: FakeRasa, policy_file: Path
) -> TestClient:
    rasa = await aiohttp_server(fake.app())
    configured = dataclasses.replace(
        settings,
        rasa_url=str(rasa.make_url("")).rstrip("/"),
        rasa_token="rasa-token",
        demo_password=PASSWORD,
        empathy_policy_file=str(policy_file),
    )
    return await aiohttp_client(create_app(configured))


async def designer(service: TestClient) -> str:
    return await log_in(service, "designer", PASSWORD)


async def score(service: TestClient, csrf: str, turns: list[Any], **extra: Any) -> Any:
    response = await service.post(
        "/console/playground/score", json={"csrf_token": csrf, "turns": turns, **extra}
    )
    return response.status, await response.json()


async def test_a_designer_lands_on_the_playground_and_sees_the_policy(service: TestClient) -> None:
    page = await service.get("/console/login")
    assert page.status == 200
    csrf = await designer(service)

    playground = await service.get("/console/playground")
    html = await playground.text()

    assert playground.status == 200 and csrf in html
    assert f'name="{WEIGHT}"' in html and 'data-saved="0.60"' in html
    assert (await service.get("/console", allow_redirects=False)).status == 403


async def test_an_agent_has_no_playground(service: TestClient) -> None:
    csrf = await log_in(service, "agent", PASSWORD)

    assert (await service.get("/console/playground", allow_redirects=False)).status == 403
    status, _ = await score(service, csrf, ["hello"])
    assert status == 403


async def test_each_turn_shows_signal_times_weight_and_an_edit_rescores_without_parsing_again(
    service: TestClient, fake: FakeRasa
) -> None:
    csrf = await designer(service)

    status, saved = await score(service, csrf, ["where is my order", ANGRY])
    _, draft = await score(service, csrf, ["where is my order", ANGRY], edits={WEIGHT: 0.9})

    assert status == 200
    turn = saved["turns"][1]
    rows = {row["name"]: row for row in turn["frustration"]["signals"]}
    assert rows["negative_emotion"]["weight"] == 0.6
    assert rows["negative_emotion"]["contribution"] == pytest.approx(
        0.6 * rows["negative_emotion"]["value"], abs=1e-3
    )
    total = sum(row["contribution"] for row in rows.values())
    assert turn["frustration"]["instant"] == pytest.approx(min(1.0, max(0.0, total)), abs=5e-3)
    assert turn["intents"][0]["name"] == "order_status" and turn["emotions"]["anger"] == 0.8
    assert {"tone", "reason"} <= set(turn["tone"]) and turn["decision"]["kind"] in {"none", "offer_human"}
    assert draft["turns"][1]["frustration"]["score"] > turn["frustration"]["score"]
    assert len(saved["trajectory"]) == 2
    assert sorted(fake.parsed) == sorted(["where is my order", ANGRY])  # each text read once


async def test_a_person_request_hands_off_and_opting_out_scores_nothing(service: TestClient) -> None:
    csrf = await designer(service)

    _, result = await score(service, csrf, ["I want a person"], opted_out=True)

    turn = result["turns"][0]
    assert turn["frustration"] is None and turn["decision"]["kind"] == "handoff"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"turns": []}, "turns: send a list of 1 to 20"),
        ({"turns": ["hi"] * 21}, "turns: send a list of 1 to 20"),
        ({"turns": ["a\x00b"]}, "control characters"),
        ({"turns": ["x" * 1001]}, "1 to 1000 characters"),
        ({"turns": [{"text": "hi", "failed_before": "2"}]}, "failed_before"),
        ({"turns": [{"text": "hi", "failed_before": True}]}, "failed_before"),
        (
            {"turns": ["hi"], "edits": {"frustration.weights.nonsense": 0.1}},
            "is not a number the playground edits",
        ),
        ({"turns": ["hi"], "edits": {WEIGHT: "0.5"}}, "must be a finite number"),
        ({"turns": ["hi"], "edits": {WEIGHT: 5}}, "must be between -1.0 and 1.0"),
        ({"turns": ["hi"], "edits": {"tone.hysteresis": -0.5}}, "must be between 0 and 1"),
        ({"turns": ["hi"], "edits": ["x"]}, "edits: send an object"),
    ],
)
async def test_hostile_input_is_a_400_with_the_reason(
    service: TestClient, body: dict[str, Any], reason: str
) -> None:
    csrf = await designer(service)

    response = await service.post("/console/playground/score", json={"csrf_token": csrf, **body})

    assert response.status == 400
    assert reason in (await response.json())["detail"]


async def test_without_the_csrf_token_nothing_is_scored_or_saved(
    service: TestClient, policy_file: Path
) -> None:
    await designer(service)
    before = policy_file.read_text()

    scored = await service.post("/console/playground/score", json={"turns": ["hi"]})
    saved = await service.post(
        "/console/playground/save",
        json={"csrf_token": "forged", "edits": {WEIGHT: 0.7}, "version": policy_draft.version_of(before)},
    )

    assert (scored.status, saved.status) == (403, 403)
    assert policy_file.read_text() == before


async def test_saving_writes_the_number_keeps_the_comments_and_is_audited(
    service: TestClient, policy_file: Path
) -> None:
    csrf = await designer(service)
    before = policy_file.read_text()

    response = await service.post(
        "/console/playground/save",
        json={"csrf_token": csrf, "edits": {WEIGHT: 0.65}, "version": policy_draft.version_of(before)},
    )

    body = await response.json()
    after = policy_file.read_text()
    assert response.status == 200, body
    assert body["changes"] == {WEIGHT: [0.6, 0.65]} and body["version"] == policy_draft.version_of(after)
    assert "    negative_emotion: 0.65      # anger + frustration + disgust" in after
    assert after.replace("0.65", "0.60", 1) == before
    [record] = audit_log.for_conversation(service.app[ENGINE], "policy:empathy")
    assert record.entry.kind == "empathy_policy_saved" and record.entry.inputs["designer"] == "designer"
    assert record.entry.inputs["changes"] == {WEIGHT: [0.6, 0.65]}


@pytest.mark.parametrize(
    ("edits", "version", "status", "reason"),
    [
        ({WEIGHT: 1.5}, None, 400, "must be between -1.0 and 1.0"),
        ({"frustration.threshold": 2}, None, 400, "must be between 0 and 1"),
        ({WEIGHT: 0.7}, "0123456789ab", 409, "changed since this page read it"),
        ({WEIGHT: 0.6}, None, 400, "nothing to save"),
    ],
)
async def test_an_invalid_or_stale_save_leaves_the_file_untouched(
    service: TestClient,
    policy_file: Path,
    edits: dict[str, float],
    version: str | None,
    status: int,
    reason: str,
) -> None:
    csrf = await designer(service)
    before = policy_file.read_text()

    response = await service.post(
        "/console/playground/save",
        json={"csrf_token": csrf, "edits": edits, "version": version or policy_draft.version_of(before)},
    )

    assert response.status == status
    assert reason in (await response.json())["detail"]
    assert policy_file.read_text() == before
    assert audit_log.for_conversation(service.app[ENGINE], "policy:empathy") == []


async def test_the_samples_rescore_with_the_draft(service: TestClient) -> None:
    csrf = await designer(service)

    response = await service.post(
        "/console/playground/samples",
        json={"csrf_token": csrf, "edits": {"escalation.offer_human_above": 0.05, WEIGHT: 1.0}},
    )

    result = await response.json()
    counts = result["tests"]["counts"]
    assert response.status == 200
    assert result["tests"]["conversations"] >= 30 and counts["turns"][0] >= 80
    assert counts["offers"][1] > counts["offers"][0]
    assert result["tests"]["changed"] and "dev" not in result


async def test_rasa_down_is_a_503_saying_so(service: TestClient, fake: FakeRasa) -> None:
    csrf = await designer(service)
    fake.down = True

    status, body = await score(service, csrf, ["hello there"])

    assert status == 503 and "Rasa server did not read" in body["detail"]
