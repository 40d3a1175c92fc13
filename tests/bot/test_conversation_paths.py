"""Rasa's own HTTP API (rasa.server.create_app) with the channels registered as ``rasa run`` does.

The agent is a stand-in that answers the tracker of whatever conversation id the route receives,
so the test sees exactly the id Rasa's route handler got.  Checked: an id encoded with
``quote(id, safe="")`` (handoff/core/rasa_client.py) reaches the route decoded, hostile ones included;
and CORS answers only the origins the launcher passes (bot/launcher.py), never any origin.
"""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import rasa.server
from rasa.core.channels.channel import UserMessage, register
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic

from bot import launcher
from bot.components.checked_rest_channel import CheckedRestInput
from tests.support.ports import free_port
from tests.support.sanic_server import serve_app

PAGE = "http://127.0.0.1:5056"
HOSTILE_IDS = [
    "rest:victim/tracker?x=",
    "rest:victim/tracker/events?x=",
    "rest:a#b",
    "rest:50%",
    "rest:%2Fx",
    "rest:two words",
    "rest:ñé/ü",
    "sms:+447700900123",
]


class TrackerOfAnyId:
    """An agent that is ready and whose tracker is the id it was asked for (events: none)."""

    def __init__(self) -> None:
        self.processor = self
        self.asked: list[str] = []

    def is_ready(self) -> bool:
        return True

    async def fetch_full_tracker_with_initial_session(self, conversation_id: str, **_: Any) -> Any:
        self.asked.append(conversation_id)
        return DialogueStateTracker(conversation_id, slots=[])


async def no_bot(_: UserMessage) -> None:
    return None


@pytest.fixture
async def rasa_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[str, TrackerOfAnyId]]:
    monkeypatch.setattr(Sanic, "test_mode", True)
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", f"http://127.0.0.1:{free_port()}")
    agent = TrackerOfAnyId()
    origins = launcher.default_cors_origins(5056).split()
    app = rasa.server.create_app(agent=agent, cors_origins=origins)  # type: ignore[arg-type]
    register([CheckedRestInput()], app, route="/webhooks/")
    async with serve_app(app) as base_url:
        yield base_url, agent


@pytest.mark.parametrize("conversation_id", HOSTILE_IDS)
async def test_an_encoded_conversation_id_reaches_rasas_route_exactly(
    rasa_api: tuple[str, TrackerOfAnyId], conversation_id: str
) -> None:
    base_url, agent = rasa_api
    url = f"{base_url}/conversations/{quote(conversation_id, safe='')}/tracker"

    async with aiohttp.ClientSession() as session, session.get(aiohttp.client.URL(url, encoded=True)) as got:
        tracker = await got.json()

    assert got.status == 200
    assert agent.asked == [conversation_id]
    assert tracker["sender_id"] == conversation_id


async def test_an_id_that_is_not_encoded_utf8_is_a_400(rasa_api: tuple[str, TrackerOfAnyId]) -> None:
    base_url, agent = rasa_api
    url = aiohttp.client.URL(f"{base_url}/conversations/rest%3A%FF/tracker", encoded=True)

    async with aiohttp.ClientSession() as session, session.get(url) as got:
        assert got.status == 400
    assert agent.asked == []


async def test_cors_answers_the_web_chat_page_and_no_other_origin(
    rasa_api: tuple[str, TrackerOfAnyId],
) -> None:
    base_url, _ = rasa_api
    preflight = {"Access-Control-Request-Method": "POST"}
    async with aiohttp.ClientSession() as session:
        async with session.options(
            base_url + "/webhooks/rest/webhook", headers={**preflight, "Origin": "https://evil.example"}
        ) as foreign:
            foreign_allowed = foreign.headers.get("Access-Control-Allow-Origin")
        async with session.options(
            base_url + "/webhooks/rest/webhook", headers={**preflight, "Origin": PAGE}
        ) as own:
            own_allowed = own.headers.get("Access-Control-Allow-Origin")

    assert foreign_allowed is None
    assert own_allowed == PAGE


def test_the_launcher_never_passes_a_wildcard_origin(tmp_path: Path) -> None:
    env = launcher.child_env(launcher.Ports(5005, 5055, 5056), tmp_path, "t", base={})
    service = launcher.rasa_service(
        5005, tmp_path / "m.tar.gz", tmp_path / "e.yml", "t", cors=env["ATTUNE_CORS_ORIGINS"].split()
    )

    cors = service.command[service.command.index("--cors") + 1 :]
    assert cors == ["http://127.0.0.1:5056", "http://localhost:5056"]
    assert "*" not in service.command
