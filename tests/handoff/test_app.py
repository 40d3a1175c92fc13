import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import create_engine, inspect

from handoff.app import create_app
from handoff.core.app_keys import ENGINE
from handoff.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


async def test_healthz_reports_a_reachable_database_and_migrates_it(
    aiohttp_client, settings: Settings
) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))

    response = await client.get("/healthz")

    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok"}
    tables = inspect(create_engine(settings.database_url)).get_table_names()
    assert {"handoffs", "alembic_version"} <= set(tables)


async def test_unknown_route_gets_the_json_error_shape(aiohttp_client, settings: Settings) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))

    response = await client.get("/no/such/page")

    assert response.status == 404
    assert (await response.json())["error"] == "not_found"


async def test_healthz_is_503_not_500_when_the_database_is_gone(aiohttp_client, settings: Settings) -> None:
    client: TestClient = await aiohttp_client(create_app(settings))
    # Replace the database file with a directory: every new connection now fails.
    db_file = Path(settings.database_url.removeprefix("sqlite:///"))
    client.app[ENGINE].dispose()
    # The service's background workers (search index, purge) may reopen the file between the unlink
    # and the mkdir, which recreates it: try again until the directory wins.
    for _ in range(50):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        try:
            db_file.mkdir()
            break
        except FileExistsError:
            continue
    assert db_file.is_dir()

    response = await client.get("/healthz")

    assert response.status == 503
    assert await response.json() == {"status": "degraded", "database": "error"}


def test_python_m_handoff_migrate_creates_the_database(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "handoff.db"
    env = {
        **os.environ,
        "ATTUNE_HANDOFF_DATABASE_URL": f"sqlite:///{db}",
        "ATTUNE_LOG_FORMAT": "text",
        "ATTUNE_SESSION_KEY": "k" * 32,
    }

    result = subprocess.run(
        [sys.executable, "-m", "handoff", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "handoffs" in inspect(create_engine(f"sqlite:///{db}")).get_table_names()


def test_bad_config_exits_2_with_one_clear_line(tmp_path: Path) -> None:
    env = {**os.environ, "ATTUNE_HANDOFF_PORT": "not-a-port"}

    result = subprocess.run(
        [sys.executable, "-m", "handoff"], cwd=ROOT, env=env, capture_output=True, text=True
    )

    assert result.returncode == 2
    assert result.stderr.strip() == "error: ATTUNE_HANDOFF_PORT must be an integer 1-65535, got 'not-a-port'"


def test_settings_are_frozen(settings: Settings) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.port = 1  # type: ignore[misc]
