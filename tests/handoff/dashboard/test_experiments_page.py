"""The experiment pages over HTTP: who may see them, the list, the report as a page and as the command's
JSON, and what a hostile name or a broken experiments file gets.
"""

import dataclasses
import json
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot import cli
from handoff.app import create_app
from handoff.core.app_keys import ENGINE
from handoff.core.settings import Settings
from tests.support import experiment_data
from tests.support.console import PASSWORD, log_in

AS_OF = "2026-12-02"


@pytest.fixture
def experiments_file(tmp_path: Path) -> Path:
    path = tmp_path / "experiments.yml"
    path.write_text(experiment_data.EXPERIMENTS_YAML, encoding="utf-8")
    return path


@pytest.fixture
async def service(aiohttp_client, settings: Settings, experiments_file: Path) -> TestClient:
    configured = dataclasses.replace(settings, demo_password=PASSWORD, experiments_file=str(experiments_file))
    client: TestClient = await aiohttp_client(create_app(configured))
    experiment_data.load(client.app[ENGINE])
    await log_in(client, "supervisor", PASSWORD)
    return client


async def test_the_list_shows_each_experiment_its_status_and_its_arms(service: TestClient) -> None:
    page = await service.get("/console/experiments")
    html = await page.text()

    assert page.status == 200
    assert (
        'href="/console/experiments/tone-page"' in html and 'href="/console/experiments/tone-later"' in html
    )
    assert 'data-status="running"' in html and 'data-status="disabled"' in html
    per_arm = experiment_data.PER_ARM
    assert f"neutral: {per_arm}</span>" in html and f"adaptive: {per_arm}</span>" in html
    assert f"neutral: {experiment_data.LATER_PER_ARM}</span>" in html
    assert 'href="/console/experiments" class="nav">Experiments</a>' in html


async def test_the_report_page_gives_the_verdict_and_the_primary_metrics_interval(
    service: TestClient,
) -> None:
    page = await service.get("/console/experiments/tone-page", params={"today": AS_OF})
    html = await page.text()

    estimate, low, high = experiment_data.expected_interval()
    assert page.status == 200
    assert '<div class="verdict" data-status="significant" data-arm="adaptive">' in html
    assert (
        f"{estimate * 100:+.1f} points (95% CI {low * 100:+.1f} points to {high * 100:+.1f} points)" in html
    )
    assert f"[{low:+.4g}, {high:+.4g}]" in html
    assert '<dd id="horizon-reached">yes</dd>' in html and 'data-mismatch="false"' in html
    assert "Smallest arm: 60 of 50 conversations (100%)" in html


async def test_before_the_horizon_the_verdict_is_withheld(service: TestClient) -> None:
    html = await (await service.get("/console/experiments/tone-later", params={"today": AS_OF})).text()

    assert 'data-status="collecting"' in html and "The verdict is withheld" in html
    assert "better" not in html and "significant." not in html
    assert "Smallest arm: 5 of 1,000 conversations (0%)" in html


@pytest.mark.parametrize("path", ["/console/experiments/tone-page.json", "/console/experiments/tone-page"])
async def test_the_json_is_what_the_command_prints(
    service: TestClient,
    settings: Settings,
    experiments_file: Path,
    path: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer = await service.get(
        path, params={"today": AS_OF, **({} if path.endswith(".json") else {"format": "json"})}
    )
    command = [
        "experiment", "report", "tone-page", "--json", "--today", AS_OF,
        "--database-url", settings.database_url, "--experiments", str(experiments_file),
    ]  # fmt: skip

    assert cli.main(command) == 0
    assert answer.status == 200 and answer.content_type == "application/json"
    assert await answer.json() == json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(("role", "landing"), [("agent", "/console"), ("designer", "/console/playground")])
async def test_other_roles_get_403_and_no_link(
    aiohttp_client, service: TestClient, role: str, landing: str
) -> None:
    other: TestClient = await aiohttp_client(service.server)
    await log_in(other, role, PASSWORD)

    for path in (
        "/console/experiments",
        "/console/experiments/tone-page",
        "/console/experiments/tone-page.json",
    ):
        answer = await other.get(path, headers={"Accept": "text/html"})
        assert answer.status == 403, path
        assert "does not use this part of the console" in await answer.text()
    home = await other.get(landing)
    assert home.status == 200 and ">Experiments</a>" not in await home.text()


async def test_without_a_session_the_pages_send_to_the_login(aiohttp_client, service: TestClient) -> None:
    anonymous: TestClient = await aiohttp_client(service.server)

    for path in ("/console/experiments", "/console/experiments/tone-page.json"):
        answer = await anonymous.get(path, allow_redirects=False)
        assert answer.status == 303 and answer.headers["Location"] == "/console/login", path


HOSTILE_NAMES = [
    ("nope", 404, "known: tone-page, tone-later"),
    ("a.b", 400, "letters, digits"),
    ("x.json.json", 400, "letters, digits"),
    ("tone page", 400, "letters, digits"),
    ("x" * 65, 400, "1-64 letters"),
    ("tone-pag\u0435", 400, "letters, digits"),  # a Cyrillic e
    ("%00", 400, "letters, digits"),
    ("<script>", 400, "letters, digits"),
]
BAD_QUERIES = [
    ({"format": "xml"}, "'format' must be html or json"),
    ({"today": "2026-13-01"}, "'today' must be a day"),
    ({"today": "\uff12\uff10\uff12\uff16-12-01"}, "'today' must be a day"),  # fullwidth digits
    ({"today": "yesterday"}, "'today' must be a day"),
]


async def test_a_hostile_or_unknown_name_or_query_is_refused_with_the_reason(service: TestClient) -> None:
    # One service for all (building one per case is most of the time a case takes).
    found = []
    for name, _, _ in HOSTILE_NAMES:
        answer = await service.get(f"/console/experiments/{name}", headers={"Accept": "application/json"})
        found.append((name, answer.status, (await answer.json())["detail"]))
    for query, _ in BAD_QUERIES:
        answer = await service.get("/console/experiments/tone-page", params=query)
        found.append((str(query), answer.status, (await answer.json())["detail"]))

    expected = [*HOSTILE_NAMES, *((str(query), 400, reason) for query, reason in BAD_QUERIES)]
    pairs = zip(found, expected, strict=True)
    refused = [(name, status, reason in detail) for (name, status, detail), (_, _, reason) in pairs]
    assert refused == [(name, status, True) for name, status, _ in expected]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("experiments: [{name: x}]", "start must be a date"),
        ("experiments: [unclosed", "not valid YAML"),
    ],
)
async def test_a_broken_experiments_file_is_said_on_the_page_not_a_500(
    service: TestClient, experiments_file: Path, text: str, reason: str
) -> None:
    experiments_file.write_text(text, encoding="utf-8")

    listing = await service.get("/console/experiments")
    report = await service.get("/console/experiments/tone-page", headers={"Accept": "text/html"})
    as_json = await service.get("/console/experiments/tone-page.json")

    assert listing.status == 200
    assert 'id="experiments-problem"' in (listing_html := await listing.text())
    assert str(experiments_file) in listing_html
    assert report.status == 503 and reason in await report.text()
    assert as_json.status == 503 and (await as_json.json())["error"] == "experiments_unavailable"


async def test_a_missing_experiments_file_is_said_on_the_page(
    service: TestClient, experiments_file: Path
) -> None:
    experiments_file.unlink()

    html = await (await service.get("/console/experiments")).text()

    assert 'id="experiments-problem"' in html and "cannot be read" in html


async def test_the_shipped_experiment_with_no_data_yet_is_collecting(
    aiohttp_client, settings: Settings
) -> None:
    shipped = Path(__file__).resolve().parents[3] / "policy" / "experiments.yml"
    configured = dataclasses.replace(settings, demo_password=PASSWORD, experiments_file=str(shipped))
    client: TestClient = await aiohttp_client(create_app(configured))
    await log_in(client, "admin", PASSWORD)

    listing = await (await client.get("/console/experiments")).text()
    page = await client.get("/console/experiments/adaptive-tone-v1", params={"today": "2027-01-10"})
    html = await page.text()

    assert 'data-status="disabled"' in listing and "neutral: 0</span>" in listing
    assert page.status == 200
    assert html.count('data-status="collecting"') == 1 and "0 of 20,000 conversations" in html
    assert "Day 7 of 84" in html
