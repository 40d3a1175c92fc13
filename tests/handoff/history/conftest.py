import dataclasses

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.core.settings import Settings
from tests.support.console import PASSWORD
from tests.support.fake_rasa import FakeRasa


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
