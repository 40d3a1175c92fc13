"""handoff/core/rasa_client.py against a stand-in for Rasa that records the raw request paths it gets.

Rasa reads ``/conversations/{id}/...`` undecoded (its middleware decodes the id), so what matters is
the exact bytes of the path: each id must stay one percent-encoded segment, whatever it holds.
"""

from urllib.parse import unquote

import aiohttp
import pytest
from aiohttp import web

from handoff.core.rasa_client import RasaClient, Undeliverable


class RecordingRasa:
    def __init__(self) -> None:
        self.raw: list[tuple[str, str, dict[str, str]]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.record)
        return app

    async def record(self, request: web.Request) -> web.Response:
        self.raw.append((request.method, request.raw_path.split("?")[0], dict(request.query)))
        return web.json_response({"events": [{"event": "user", "text": "hi", "timestamp": 1.0}]})


@pytest.fixture
async def rasa(aiohttp_server) -> tuple[RecordingRasa, str]:
    fake = RecordingRasa()
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


HOSTILE = [
    "rest:victim/tracker?x=",
    "rest:victim/tracker/events?x=",
    "rest:a#b",
    "rest:50%",
    "rest:%2Fx",
    "rest:a b",
    "rest:ñé/ü",
    "rest:..",
    "..",
    ".",
    "sms:+447700900123",
    "whatsapp:+447700900123",
]


def segment_of(path: str) -> str:
    prefix = "/conversations/"
    assert path.startswith(prefix), path
    segment, _, rest = path[len(prefix) :].partition("/")
    return segment + "|" + rest


@pytest.mark.parametrize("conversation_id", HOSTILE)
async def test_every_id_stays_one_encoded_segment_of_its_own_path(
    rasa: tuple[RecordingRasa, str], conversation_id: str
) -> None:
    fake, url = rasa
    async with aiohttp.ClientSession() as session:
        client = RasaClient(session, url, "rasa-token")
        await client.pause(conversation_id)
        await client.messages(conversation_id)
        if conversation_id.startswith(("rest:", "sms:", "whatsapp:")):
            await client.say(conversation_id, "utter_agent_message", {"agent_message": "hello"})

    paths = [segment_of(path) for _, path, _ in fake.raw]
    segments = {path.split("|")[0] for path in paths}
    assert len(segments) == 1
    [segment] = segments
    assert all(c.isalnum() or c in "%-._~" for c in segment), segment  # nothing left unencoded
    assert unquote(segment) == conversation_id
    said = ["tracker/events", "execute", "tracker/events"] if len(paths) > 2 else []
    assert [path.split("|")[1] for path in paths] == ["tracker/events", "tracker", *said]


@pytest.mark.parametrize(
    ("conversation_id", "channel"),
    [("web:" + "a" * 32, "socketio"), ("rest:x", "rest"), ("sms:+447700900123", "twilio")],
)
async def test_a_message_goes_to_the_conversations_own_channel(
    rasa: tuple[RecordingRasa, str], conversation_id: str, channel: str
) -> None:
    fake, url = rasa
    async with aiohttp.ClientSession() as session:
        await RasaClient(session, url, None).say(conversation_id, "utter_wait_too_long")

    executes = [query for _, path, query in fake.raw if path.endswith("/execute")]
    assert executes == [{"output_channel": channel}]


async def test_an_id_without_a_channel_is_undeliverable_and_nothing_is_written(
    rasa: tuple[RecordingRasa, str],
) -> None:
    fake, url = rasa
    async with aiohttp.ClientSession() as session:
        client = RasaClient(session, url, None)
        with pytest.raises(Undeliverable):
            await client.say("+447700900123", "utter_agent_message", {"agent_message": "hello"})

    assert fake.raw == []
