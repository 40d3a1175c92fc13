"""The Rasa server killed mid-way through an SMS turn: the customer's message is not lost.

The SMS/WhatsApp channel claims each ``MessageSid`` before the turn and marks it handled after it
(bot/components/message_receipts.py).  A server that dies mid-turn leaves its claim unhandled.  The
same signed webhook delivered again once that claim is stale must be handled and answered, and once
answered never handled again; a claim that may belong to a turn still running is refused.  Before,
the claim alone refused every later delivery: the message was lost, with no reply.

The channel tests serve the channel on Sanic against a Twilio-compatible fake and leave behind the
claim a dead server leaves (``make unit``).  The integration test runs the stack as ``make run``
does and kills the Rasa process with SIGKILL while its turn waits on Twilio to take the reply.
"""

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import requests
from aiohttp import web
from rasa.core.channels.channel import UserMessage
from sanic import Sanic
from sqlalchemy import create_engine, select, update

from bench.faults import kill_child
from bot.components.message_receipts import DEFAULT_STALE_AFTER, NEW, MessageReceipts, receipts
from bot.components.turn_guard import NOT_PROCESSED_TEXT
from bot.components.twilio_channel import CheckedTwilioInput, TwilioChannelSettings
from tests.support.sanic_server import mount_channels, serve_channels
from tests.support.stack import START_TIMEOUT, RunningStack, start_stack
from tests.support.twilio_fake import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    TWILIO_NUMBER,
    FakeTwilio,
    FakeTwilioThread,
    Webhook,
    error,
)

CUSTOMER = "+447700900456"
PATH = "/webhooks/twilio/webhook"
TEXT = "where is order 10002?"
# How long ago the dead server claimed the message: beyond the stale window, as a delivery that comes
# minutes later finds it.
DIED_AGO = DEFAULT_STALE_AFTER + timedelta(minutes=1)
EMPTY_TWIML = "<Response></Response>"


def database_url(database: Path) -> str:
    return f"sqlite:///{database}"


def receipt(database: Path, message_sid: str) -> tuple[datetime, datetime | None] | None:
    """(received_at, handled_at) of ``message_sid``; None when the database has no receipt of it."""
    engine = create_engine(database_url(database), future=True)
    try:
        with engine.connect() as connection:
            row = connection.execute(
                select(receipts.c.received_at, receipts.c.handled_at).where(
                    receipts.c.message_sid == message_sid
                )
            ).first()
    finally:
        engine.dispose()
    return None if row is None else (row.received_at, row.handled_at)


def backdate(database: Path, message_sid: str, by: timedelta) -> None:
    """Moves the claim of ``message_sid`` ``by`` into the past: a delivery that comes that much later."""
    found = receipt(database, message_sid)
    assert found is not None, f"no receipt of {message_sid}"
    engine = create_engine(database_url(database), future=True)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(receipts)
                .where(receipts.c.message_sid == message_sid)
                .values(received_at=found[0] - by)
            )
    finally:
        engine.dispose()


def replies_to(fake: FakeTwilio, number: str) -> list[str]:
    """The bodies of the messages sent to ``number`` through the fake Twilio."""
    return [message.get("Body", "") for message in fake.messages if message.get("To") == number]


# --- the channel on a Sanic server, a dead server's claim in its database ----------------------------


@dataclasses.dataclass
class Channel:
    webhook: str
    database: Path
    received: list[UserMessage]
    fails: bool = False  # "the bot" fails: the customer is told to send the message again
    hold: asyncio.Event | None = None  # "the bot" waits for it: a turn slower than Twilio waits


@pytest.fixture(autouse=True)
def sanic_test_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    # Sanic rewrites its HTTP handlers when a server starts; in test mode it can do so more than once.
    monkeypatch.setattr(Sanic, "test_mode", True)


@pytest.fixture
async def twilio(aiohttp_server: Any) -> tuple[FakeTwilio, str]:
    fake = FakeTwilio()
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


@contextlib.asynccontextmanager
async def sms_channel(database: Path, twilio_api: str) -> AsyncIterator[Channel]:
    """The channel as a Rasa server runs it, its receipts in ``database`` (the tracker store's); the
    bot answers through the message's own output channel, as Rasa does.
    """
    channel = Channel("", database, [])

    async def bot(message: UserMessage) -> None:
        channel.received.append(message)
        if channel.hold is not None:
            await channel.hold.wait()
        if channel.fails:
            raise RuntimeError("the bot fell over")
        await message.output_channel.send_text_message(
            message.sender_id, f"About {message.text}: on its way."
        )

    def mount(app: Sanic, base_url: str) -> None:
        settings = TwilioChannelSettings(
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            number=TWILIO_NUMBER,
            api_base=twilio_api,
            public_url=base_url,  # Twilio signs the URL it posts to
        )
        environ = {"ATTUNE_TRACKER_DATABASE_URL": database_url(database)}
        mount_channels(app, [CheckedTwilioInput(settings, MessageReceipts.from_environ(environ))], bot)

    async with serve_channels([], bot, name="sms_turn_killed", prepare=mount) as base_url:
        channel.webhook = base_url + PATH
        yield channel


@pytest.fixture
async def channel(twilio: tuple[FakeTwilio, str], tmp_path: Path) -> AsyncIterator[Channel]:
    async with sms_channel(tmp_path / "tracker.db", twilio[1]) as served:
        yield served


async def claimed_by_a_server_that_died(channel: Channel, fake: FakeTwilio, ago: timedelta) -> Webhook:
    """A customer's message whose turn died ``ago`` on another server sharing the database: claimed,
    never handled, never answered.  Its webhook, for Twilio to deliver again.
    """
    webhook = fake.incoming_message(channel.webhook, CUSTOMER, TEXT)
    claimed_at = datetime.now(timezone.utc) - ago
    engine = create_engine(database_url(channel.database), future=True)
    try:
        dead_server = MessageReceipts(engine, clock=lambda: claimed_at)
        assert await dead_server.claim(webhook.params["MessageSid"]) == NEW
    finally:
        engine.dispose()
    return webhook


async def test_a_message_whose_turn_died_is_handled_and_answered_when_it_comes_again(
    channel: Channel, twilio: tuple[FakeTwilio, str]
) -> None:
    fake = twilio[0]
    webhook = await claimed_by_a_server_that_died(channel, fake, DIED_AGO)

    status, text = await fake.deliver(webhook)

    assert (status, text.endswith(EMPTY_TWIML)) == (200, True)
    assert [(m.sender_id, m.text) for m in channel.received] == [("sms:" + CUSTOMER, TEXT)]
    assert replies_to(fake, CUSTOMER) == [f"About {TEXT}: on its way."]
    found = receipt(channel.database, webhook.params["MessageSid"])
    assert found is not None and found[1] is not None  # handled now

    # Answered once: the same request again (a replay, another retry) is not handled again.
    assert (await fake.deliver(webhook))[0] == 200
    assert len(channel.received) == 1
    assert len(replies_to(fake, CUSTOMER)) == 1


async def test_a_message_whose_turn_may_still_be_running_is_not_handled_twice(
    channel: Channel, twilio: tuple[FakeTwilio, str]
) -> None:
    fake = twilio[0]
    # Claimed a moment ago by another server: its turn may still be running (this is Twilio retrying).
    webhook = await claimed_by_a_server_that_died(channel, fake, timedelta(seconds=5))

    status, text = await fake.deliver(webhook)

    assert (status, text.endswith(EMPTY_TWIML)) == (200, True)
    assert channel.received == []
    assert replies_to(fake, CUSTOMER) == []
    found = receipt(channel.database, webhook.params["MessageSid"])
    assert found is not None and found[1] is None  # still the other server's to finish


async def test_a_turn_that_failed_counts_as_handled_and_is_never_taken_over(
    channel: Channel, twilio: tuple[FakeTwilio, str]
) -> None:
    fake = twilio[0]
    channel.fails = True
    webhook = fake.incoming_message(channel.webhook, CUSTOMER, TEXT)
    assert (await fake.deliver(webhook))[0] == 200
    assert replies_to(fake, CUSTOMER) == [NOT_PROCESSED_TEXT]  # sent again, it is a new message

    backdate(channel.database, webhook.params["MessageSid"], DIED_AGO)  # older than the stale window
    channel.fails = False
    assert (await fake.deliver(webhook))[0] == 200

    assert len(channel.received) == 1
    assert replies_to(fake, CUSTOMER) == [NOT_PROCESSED_TEXT]


async def test_twilio_hanging_up_on_a_slow_turn_is_not_a_death(
    channel: Channel, twilio: tuple[FakeTwilio, str]
) -> None:
    """Twilio waits 15 s at most, then hangs up, and Sanic cancels the turn: it ended, so it counts as
    handled and no later delivery handles it a second time.
    """
    fake = twilio[0]
    channel.hold = asyncio.Event()  # never set: the turn outlasts the caller's patience
    webhook = fake.incoming_message(channel.webhook, CUSTOMER, TEXT)
    sid = webhook.params["MessageSid"]

    with pytest.raises(asyncio.TimeoutError):
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                webhook.url, data=webhook.params, headers=webhook.headers, timeout=aiohttp.ClientTimeout(1)
            ),
        ):
            pass
    deadline = time.monotonic() + 10
    while (found := receipt(channel.database, sid)) is not None and found[1] is None:
        assert time.monotonic() < deadline, "the cancelled turn was never marked handled"
        await asyncio.sleep(0.05)

    channel.hold = None
    backdate(channel.database, sid, DIED_AGO)
    assert (await fake.deliver(webhook))[0] == 200
    assert len(channel.received) == 1
    assert replies_to(fake, CUSTOMER) == []


# --- the stack, Rasa killed with SIGKILL mid-turn ------------------------------------------------------


@dataclasses.dataclass
class ReplyHoldingTwilio(FakeTwilio):
    """Twilio that holds the first reply it is asked to send until ``released``: the turn sending it
    stays in flight, for the test to kill the server under it.
    """

    holding: threading.Event = dataclasses.field(default_factory=threading.Event)
    released: threading.Event = dataclasses.field(default_factory=threading.Event)

    async def create_message(self, request: web.Request) -> web.Response:
        if self.holding.is_set():
            return await super().create_message(request)
        self.holding.set()
        while not self.released.is_set():
            await asyncio.sleep(0.05)
        return error(503, 20500, "held until the server that asked was killed")


def _wait_until_answering_again(stack: RunningStack, killed: int) -> None:
    """Until the launcher has restarted Rasa and its Twilio webhook answers."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException, ValueError, OSError):
            if (
                stack.pid_of("rasa") != killed
                and requests.get(stack.rasa_url + "/webhooks/twilio/", timeout=2).ok
            ):
                return
        time.sleep(0.5)
    pytest.fail("Rasa did not answer again after it was killed")


def _texts_in_tracker(stack: RunningStack, conversation: str) -> list[str]:
    url = f"{stack.rasa_url}/conversations/{quote(conversation, safe='')}/tracker"
    tracker = requests.get(url, params={"token": stack.token}, timeout=30)
    tracker.raise_for_status()
    return [event.get("text") for event in tracker.json()["events"] if event.get("event") == "user"]


@dataclasses.dataclass(frozen=True)
class HeldStack:
    stack: RunningStack
    twilio: ReplyHoldingTwilio


@pytest.fixture
def held_stack(tmp_path: Path) -> Iterator[HeldStack]:
    """The stack on a Twilio that holds its first reply; a fixture, so that a failing test still stops it."""
    fake = ReplyHoldingTwilio()
    try:
        with FakeTwilioThread(fake) as twilio, start_stack(tmp_path, twilio) as stack:
            yield HeldStack(stack, fake)
    finally:
        fake.released.set()


def _kill_rasa_mid_turn(stack: RunningStack, fake: ReplyHoldingTwilio, webhook: Webhook) -> None:
    """Delivers ``webhook`` and kills Rasa with SIGKILL while its turn waits on Twilio to send the reply."""
    database = stack.var_dir / "tracker.db"
    killed = stack.pid_of("rasa")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        delivery = pool.submit(asyncio.run, FakeTwilio.deliver(webhook))
        try:
            assert fake.holding.wait(timeout=180), "the turn never got as far as sending its reply"
            found = receipt(database, webhook.params["MessageSid"])
            assert found is not None and found[1] is None  # claimed, mid-turn
            kill_child(stack.var_dir / "run" / "rasa.pid")
            with pytest.raises(aiohttp.ClientError):
                delivery.result(timeout=60)  # the connection died with the server
        finally:
            fake.released.set()
    _wait_until_answering_again(stack, killed)


@pytest.mark.integration
def test_killing_rasa_mid_sms_turn_loses_no_message(held_stack: HeldStack) -> None:
    stack, fake = held_stack.stack, held_stack.twilio
    database = stack.var_dir / "tracker.db"  # the tracker store's, where the receipts are kept
    webhook = fake.incoming_message(stack.rasa_url + PATH, CUSTOMER, TEXT)
    sid = webhook.params["MessageSid"]
    _kill_rasa_mid_turn(stack, fake, webhook)
    assert replies_to(fake, CUSTOMER) == []  # the customer has heard nothing

    # Twilio (or an operator in its console) delivers the same request again, minutes later.
    backdate(database, sid, DIED_AGO)
    status, text = asyncio.run(fake.deliver(webhook))

    assert (status, text.endswith(EMPTY_TWIML)) == (200, True)
    answers = replies_to(fake, CUSTOMER)
    assert answers, "the message was not answered"
    found = receipt(database, sid)
    assert found is not None and found[1] is not None
    assert _texts_in_tracker(stack, "sms:" + CUSTOMER) == [TEXT]

    # Answered: once more, it is refused and nothing more is sent.
    assert asyncio.run(fake.deliver(webhook))[0] == 200
    assert replies_to(fake, CUSTOMER) == answers
    assert _texts_in_tracker(stack, "sms:" + CUSTOMER) == [TEXT]
