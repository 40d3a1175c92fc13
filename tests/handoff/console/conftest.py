import dataclasses

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.core.settings import Settings
from tests.support.console import PASSWORD
from tests.support.fake_rasa import FakeRasa


@pytest.fixture
async def rasa(aiohttp_server) -> tuple[FakeRasa, str]:
    fake = FakeRasa()
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


@pytest.fixture
def console_settings(settings: Settings, rasa: tuple[FakeRasa, str]) -> Settings:
    return dataclasses.replace(settings, rasa_url=rasa[1], rasa_token="rasa-token", demo_password=PASSWORD)


@pytest.fixture
async def service(aiohttp_client, console_settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(console_settings))
