"""Custom actions across a restart of the action server: retried on connection errors, and when it
stays away the turn ends (issue 12, in-flight messages).  Real aiohttp servers on loopback play the
action server; Rasa's RemoteAction, ActionExtractSlots and MessageProcessor._run_action are real.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.policies.policy import PolicyPrediction
from rasa.core.processor import MessageProcessor
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig

from bot.components import action_retry
from bot.components.action_retry import ActionServerUnavailable, connection_error, retry_seconds
from tests.support.ports import free_port

ACTION = "action_lookup_order"
REPLY = {"events": [], "responses": [{"text": "Order 10002 is on its way."}]}
DOMAIN = Domain.from_yaml(
    f"""
version: "3.1"
actions: [{ACTION}, action_track_empathy]
slots:
  frustration:
    type: float
    influence_conversation: false
    mappings:
      - type: custom
        action: action_track_empathy
"""
)
SHORT_BUDGET = 0.6


@dataclass
class ActionServer:
    """A stand-in action server on a fixed port that can be stopped and started again."""

    port: int
    answer: tuple[int, dict[str, Any]] = (200, REPLY)
    calls: list[str] = field(default_factory=list)
    runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> EndpointConfig:
        return EndpointConfig(f"http://127.0.0.1:{self.port}/webhook")

    async def webhook(self, request: web.Request) -> web.Response:
        self.calls.append(str((await request.json())["next_action"]))
        status, body = self.answer
        return web.json_response(body, status=status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self.webhook)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def action_server() -> AsyncIterator[ActionServer]:
    server = ActionServer(free_port())
    yield server
    await server.stop()


@pytest.fixture
def retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``install`` does, with a short budget (tests/bot/conftest.py puts Rasa back after it)."""
    monkeypatch.setenv("ATTUNE_ACTION_RETRY_SECONDS", str(SHORT_BUDGET))
    assert action_retry.install() == SHORT_BUDGET


def customer_tracker() -> DialogueStateTracker:
    tracker = DialogueStateTracker.from_events("customer-1", [], slots=DOMAIN.slots)
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("where is my order 10002?", {"name": "order_status", "confidence": 1.0}))
    return tracker


async def run(action: RemoteAction) -> list[Any]:
    nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    return list(await action.run(CollectingOutputChannel(), nlg, customer_tracker(), DOMAIN))


def processor(endpoint: EndpointConfig) -> MessageProcessor:
    """The parts of Rasa's processor that run actions (no model is loaded)."""
    found = MessageProcessor.__new__(MessageProcessor)
    found.domain = DOMAIN
    found.action_endpoint = endpoint
    found.nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    return found


# --- the retry ------------------------------------------------------------------------------------


async def test_a_call_made_while_the_action_server_restarts_is_answered_once_it_is_back(
    action_server: ActionServer, retried: None
) -> None:
    async def restart_later() -> None:
        await asyncio.sleep(0.3)
        await action_server.start()

    restarting = asyncio.create_task(restart_later())
    events = await run(RemoteAction(ACTION, action_server.endpoint))
    await restarting

    assert [e.text for e in events if isinstance(e, BotUttered)] == ["Order 10002 is on its way."]
    assert action_server.calls == [ACTION]


async def test_a_connection_dropped_mid_call_is_retried(retried: None) -> None:
    """The action server killed while it handled the call: the connection closes without an answer."""
    dropped = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal dropped
        await reader.readuntil(b"\r\n\r\n")
        if dropped == 0:
            dropped += 1
            writer.close()
            return
        body = b'{"events": [], "responses": [{"text": "answered"}]}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        events = await run(RemoteAction(ACTION, EndpointConfig(f"http://127.0.0.1:{port}/webhook")))

    assert dropped == 1
    assert [e.text for e in events if isinstance(e, BotUttered)] == ["answered"]


async def test_an_action_server_that_stays_away_ends_in_action_server_unavailable(
    action_server: ActionServer, retried: None, caplog: pytest.LogCaptureFixture
) -> None:
    started = time.monotonic()

    with pytest.raises(ActionServerUnavailable, match=ACTION) as gave_up:
        await run(RemoteAction(ACTION, action_server.endpoint))

    assert SHORT_BUDGET / 2 <= time.monotonic() - started <= SHORT_BUDGET + 1.0
    assert not isinstance(gave_up.value, RasaException)  # or Rasa's slot extraction swallows it
    assert "retrying for up to" in caplog.text and "not processed" in caplog.text


@pytest.mark.parametrize(
    ("status", "body", "raised"),
    [
        (400, {"action_name": ACTION, "error": "no order"}, ActionExecutionRejection),
        (500, {"error": "boom"}, RasaException),
        (404, {"error": "no such action"}, RasaException),
    ],
)
async def test_an_answer_of_the_action_server_is_never_retried(
    action_server: ActionServer, retried: None, status: int, body: dict[str, Any], raised: type[Exception]
) -> None:
    action_server.answer = (status, body)
    await action_server.start()

    with pytest.raises(raised) as error:
        await run(RemoteAction(ACTION, action_server.endpoint))

    assert not isinstance(error.value, ActionServerUnavailable)
    assert action_server.calls == [ACTION]


async def test_rasas_connection_error_is_recognised_behind_its_rasa_exception(
    action_server: ActionServer,
) -> None:
    """Pins how Rasa 3.6 reports a refused connection (the retry depends on it)."""
    with pytest.raises(RasaException) as refused:
        await run(RemoteAction(ACTION, action_server.endpoint))  # Rasa's own run: nothing listens

    assert connection_error(refused.value) is not None
    assert connection_error(RasaException("Failed to execute custom action")) is None


# --- the turn ends --------------------------------------------------------------------------------


async def test_rasas_processor_no_longer_carries_on_after_the_action_server_stayed_away(
    action_server: ActionServer, retried: None
) -> None:
    tracker = customer_tracker()
    prediction = PolicyPrediction.for_action_name(DOMAIN, ACTION, "RulePolicy")
    action = RemoteAction(ACTION, action_server.endpoint)

    with pytest.raises(ActionServerUnavailable):
        await processor(action_server.endpoint)._run_action(
            action, tracker, CollectingOutputChannel(), processor(action_server.endpoint).nlg, prediction
        )


async def test_without_the_change_rasa_loses_the_actions_events_and_carries_on(
    action_server: ActionServer,
) -> None:
    """What Rasa 3.6 did with the message in flight: events lost, turn goes on (the finding)."""
    tracker = customer_tracker()
    prediction = PolicyPrediction.for_action_name(DOMAIN, ACTION, "RulePolicy")
    found = processor(action_server.endpoint)

    carry_on = await found._run_action(
        RemoteAction(ACTION, action_server.endpoint),
        tracker,
        CollectingOutputChannel(),
        found.nlg,
        prediction,
    )

    assert carry_on is True
    assert tracker.latest_action_name == ACTION  # "executed", with nothing to show for it


async def test_slot_extraction_of_a_custom_mapping_ends_the_turn_too(
    action_server: ActionServer, retried: None
) -> None:
    """action_track_empathy runs this way on every message; Rasa swallows RasaExceptions there."""
    found = processor(action_server.endpoint)

    with pytest.raises(ActionServerUnavailable, match="action_track_empathy"):
        await found.run_action_extract_slots(CollectingOutputChannel(), customer_tracker())


async def test_a_successful_action_leaves_the_turn_going(action_server: ActionServer, retried: None) -> None:
    await action_server.start()
    tracker = customer_tracker()
    prediction = PolicyPrediction.for_action_name(DOMAIN, ACTION, "RulePolicy")
    found = processor(action_server.endpoint)
    output = CollectingOutputChannel()

    carry_on = await found._run_action(
        RemoteAction(ACTION, action_server.endpoint), tracker, output, found.nlg, prediction
    )

    assert carry_on is True
    assert [m["text"] for m in output.messages] == ["Order 10002 is on its way."]


# --- settings ------------------------------------------------------------------------------------


def test_the_retry_budget_comes_from_the_environment_and_bad_values_stop_the_server() -> None:
    assert retry_seconds({}) == action_retry.DEFAULT_RETRY_SECONDS == 15.0
    assert retry_seconds({"ATTUNE_ACTION_RETRY_SECONDS": " 2.5 "}) == 2.5
    assert retry_seconds({"ATTUNE_ACTION_RETRY_SECONDS": "0"}) == 0.0
    for bad in ("-1", "soon", "301", "nan"):
        with pytest.raises(ValueError, match="ATTUNE_ACTION_RETRY_SECONDS"):
            retry_seconds({"ATTUNE_ACTION_RETRY_SECONDS": bad})


def test_install_wraps_rasa_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTUNE_ACTION_RETRY_SECONDS", "3")
    original = RemoteAction.run

    assert action_retry.install() == 3.0
    assert action_retry.install() == 3.0
    assert RemoteAction.run.__wrapped__ is original  # type: ignore[attr-defined]
