"""The queue shows each handoff's latest frustration and distress, to the roles cleared for them."""

import dataclasses
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.core.app_keys import SETTINGS
from handoff.queue.live_events import latest_scores
from tests.support.console import PASSWORD, log_in
from tests.support.handoffs import add_handoff
from tests.support.sse import next_event

# The contract's example ends at turn 3 with frustration 0.5 and distress 0.05.
NOT_SHOWN = "\u2013"  # an en dash, as the page shows an absent score
LATEST = {"frustration": 0.5, "distress": 0.05}
# Agents lose the distress indicators; supervisors keep them.
STRICT = """\
distress_indicators: [supervisor, admin, api]
phone_numbers: [supervisor, admin]
unmasked_transcripts: [supervisor, admin]
review_flags: [supervisor, admin]
audit_log: [supervisor, admin]
"""


def score_cells(page: str) -> list[str]:
    return re.findall(r'<td class="score (frustration|distress)">([^<]*)</td>', page)


async def test_the_queue_page_and_its_stream_show_the_latest_scores(service: TestClient) -> None:
    await add_handoff(service)
    await log_in(service, "agent", PASSWORD)

    page = await (await service.get("/console")).text()
    async with service.get("/console/events") as stream:
        snapshot = await next_event(stream)

    assert score_cells(page) == [("frustration", "0.50"), ("distress", "0.05")]
    row = snapshot.data["handoffs"][0]
    assert {key: row[key] for key in LATEST} == LATEST


async def test_a_role_without_distress_indicators_sees_no_scores(
    aiohttp_client, service: TestClient, tmp_path: Path
) -> None:
    policy = tmp_path / "strict.yml"
    policy.write_text(STRICT)
    app = await aiohttp_client(
        create_app(dataclasses.replace(service.app[SETTINGS], access_policy_file=str(policy)))
    )
    await add_handoff(app)
    await log_in(app, "agent", PASSWORD)
    supervisor = await aiohttp_client(app.server)
    await log_in(supervisor, "supervisor", PASSWORD)

    page = await (await app.get("/console")).text()
    async with app.get("/console/events") as stream:
        snapshot = await next_event(stream)
    supervisor_page = await (await supervisor.get("/console")).text()

    assert score_cells(page) == [("frustration", NOT_SHOWN), ("distress", NOT_SHOWN)]
    assert snapshot.data["handoffs"][0]["frustration"] is None
    assert snapshot.data["handoffs"][0]["distress"] is None
    assert score_cells(supervisor_page) == [("frustration", "0.50"), ("distress", "0.05")]


@pytest.mark.parametrize(
    ("payload", "scores"),
    [
        (
            {"trajectory": [{"frustration": 0.1, "distress": 0}, {"frustration": 0.654, "distress": 1}]},
            (0.65, 1.0),
        ),
        ({}, (None, None)),  # opted out of emotion processing: no trajectory
        ({"trajectory": []}, (None, None)),
        ({"trajectory": "nonsense"}, (None, None)),
        ({"trajectory": [None]}, (None, None)),
        ({"trajectory": [{"frustration": 7, "distress": -1}]}, (None, None)),
        ({"trajectory": [{"frustration": True, "distress": "0.5"}]}, (None, None)),
    ],
)
def test_latest_scores_trust_only_unit_numbers(
    payload: dict[str, object], scores: tuple[object, object]
) -> None:
    assert latest_scores(payload) == scores
