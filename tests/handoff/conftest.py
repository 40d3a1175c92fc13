import dataclasses
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.core.settings import Settings
from tests.support.console import PASSWORD
from tests.support.fake_rasa import FakeRasa

# What the Rasa server would sign web chat session ids with (tests sign their own with it).
SESSION_KEY = "test-session-key-0123456789abcdef"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'handoff.db'}", log_format="text", session_key=SESSION_KEY
    )


# A service with a fake Rasa behind it, for the console's feature packages (workspace, history);
# a test module with fixtures of these names uses its own.
@pytest.fixture
async def rasa(aiohttp_server) -> FakeRasa:
    fake = FakeRasa()
    fake.server = await aiohttp_server(fake.app())  # type: ignore[attr-defined]
    return fake


@pytest.fixture
def console_settings(settings: Settings, rasa: FakeRasa) -> Settings:
    url = str(rasa.server.make_url("")).rstrip("/")  # type: ignore[attr-defined]
    return dataclasses.replace(settings, rasa_url=url, rasa_token="rasa-token", demo_password=PASSWORD)


@pytest.fixture
async def service(aiohttp_client, console_settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(console_settings))
