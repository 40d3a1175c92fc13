"""Where a customer connects from: ``attune.client_address``, which the action server's rate limits count by.

The rules first (handoff/shared/client_addresses.py), then REST and socket.io served by Sanic on
loopback with a recording bot: the peer, a trusted proxy's X-Forwarded-For, and a client that tries
to choose its own address.
"""

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import socketio
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.components.checked_rest_channel import CheckedRestInput
from bot.components.client_address import TrustedProxiesSettingError, configured_trusted_proxies
from bot.components.web_chat_channel import WebChatInput
from handoff.shared.client_addresses import TrustedProxies
from tests.support.ports import free_port
from tests.support.sanic_server import serve_channels

REST = "/webhooks/rest/webhook"
SESSION_KEY = "test-session-key-0123456789abcdefghij"
REPLY_TIMEOUT = 10.0
LOOPBACK = TrustedProxies.parse("127.0.0.0/8")
PROXIES = TrustedProxies.parse("10.0.0.0/8, 2001:db8::/32 192.168.1.5")


# --- the rules ------------------------------------------------------------------------------------


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() -> None:
    assert TrustedProxies().client_address("198.51.100.7", ["203.0.113.9"]) == "198.51.100.7"
    assert PROXIES.client_address("198.51.100.7", ["203.0.113.9"]) == "198.51.100.7"  # peer not a proxy


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        ("10.0.0.2", ["203.0.113.9"], "203.0.113.9"),
        ("10.0.0.2", ["203.0.113.9, 10.0.0.3"], "203.0.113.9"),  # two proxies of ours
        ("10.0.0.2", ["1.1.1.1, 203.0.113.9"], "203.0.113.9"),  # the client's own claim stays left
        ("10.0.0.2", ["1.1.1.1", "203.0.113.9"], "203.0.113.9"),  # the header repeated
        ("10.0.0.2", [], "10.0.0.2"),  # nothing forwarded: the proxy itself
        ("10.0.0.2", ["10.0.0.9"], "10.0.0.9"),  # every hop trusted: the leftmost
        ("10.0.0.2", ["203.0.113.9, unknown"], "10.0.0.2"),  # garbage from a proxy stops the walk
        ("10.0.0.2", ["203.0.113.9:4711"], "203.0.113.9"),
        ("2001:db8::1", ["[2001:db8:ffff::5]:443, 2001:db8::2"], "2001:db8:ffff::5"),  # all in the /32
        ("2001:db8::1", ["2a00:1450::1"], "2a00:1450::1"),
        ("::ffff:10.0.0.2", ["203.0.113.9"], "203.0.113.9"),  # IPv4 on a dual-stack socket
        ("192.168.1.5", ["203.0.113.9"], "203.0.113.9"),
        ("", ["203.0.113.9"], None),  # no peer: no address at all
    ],
)
def test_a_trusted_proxy_vouches_for_the_hop_before_it(
    peer: str, headers: list[str], client: str | None
) -> None:
    assert PROXIES.client_address(peer, headers) == client


def test_a_header_of_thousands_of_hops_is_read_only_so_far() -> None:
    assert LOOPBACK.client_address("127.0.0.1", [", ".join(["127.0.0.2"] * 5000)]) == "127.0.0.2"


@pytest.mark.parametrize("value", ["10.0.0.0/8 proxy.internal", "10.0.0.300", "*"])
def test_a_trusted_proxy_setting_that_is_not_networks_stops_the_server_naming_the_variable(
    value: str,
) -> None:
    with pytest.raises(TrustedProxiesSettingError, match="ATTUNE_TRUSTED_PROXIES"):
        configured_trusted_proxies({"ATTUNE_TRUSTED_PROXIES": value})


def test_the_trusted_proxies_default_to_none() -> None:
    assert TrustedProxies.from_environ({}) == TrustedProxies()


# --- at the channels ------------------------------------------------------------------------------


@dataclasses.dataclass
class Served:
    base_url: str
    received: list[UserMessage]


@pytest.fixture(autouse=True)
def no_handoff_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(Sanic, "test_mode", True)


@contextlib.asynccontextmanager
async def serve(trusted: TrustedProxies) -> AsyncIterator[Served]:
    received: list[UserMessage] = []

    async def bot(message: UserMessage) -> None:
        received.append(message)
        await message.output_channel.send_text_message(message.sender_id, "ok")

    channels = (
        CheckedRestInput(trusted_proxies=trusted),
        WebChatInput(SESSION_KEY, trusted_proxies=trusted),
    )
    async with serve_channels(channels, bot, name="client_address_test") as base_url:
        yield Served(base_url, received)


def address_of(message: UserMessage) -> Any:
    return message.metadata["attune"].get("client_address")


async def rest(served: Served, headers: dict[str, str], metadata: dict[str, Any] | None = None) -> None:
    body = {"sender": "anon", "message": "hi", "metadata": metadata or {}}
    async with (
        aiohttp.ClientSession() as session,
        session.post(served.base_url + REST, json=body, headers=headers) as response,
    ):
        assert response.status == 200, await response.text()


async def web_chat(served: Served, headers: dict[str, str], metadata: dict[str, Any] | None = None) -> None:
    client = socketio.AsyncClient()
    confirmed, answered = asyncio.Event(), asyncio.Event()
    client.on("session_confirm", lambda *_: confirmed.set())
    client.on("bot_uttered", lambda *_: answered.set())
    await client.connect(served.base_url, headers=headers, transports=["websocket"], wait_timeout=10)
    try:
        await client.emit("session_request", {})
        await asyncio.wait_for(confirmed.wait(), REPLY_TIMEOUT)
        await client.emit("user_uttered", {"message": "hi", "metadata": metadata or {}})
        await asyncio.wait_for(answered.wait(), REPLY_TIMEOUT)
    finally:
        await client.disconnect()


@pytest.mark.parametrize("send", [rest, web_chat], ids=["rest", "socketio"])
async def test_the_peer_is_the_address_and_a_client_can_choose_neither(send: Any) -> None:
    async with serve(TrustedProxies()) as served:
        await send(served, {"X-Forwarded-For": "203.0.113.9"}, {"attune": {"client_address": "198.51.100.1"}})

    [message] = served.received
    assert address_of(message) == "127.0.0.1"


@pytest.mark.parametrize("send", [rest, web_chat], ids=["rest", "socketio"])
async def test_behind_a_trusted_proxy_the_address_is_the_client_it_forwarded_for(send: Any) -> None:
    async with serve(LOOPBACK) as served:
        await send(served, {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})

    [message] = served.received
    assert address_of(message) == "203.0.113.9"
