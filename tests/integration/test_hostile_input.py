"""Hostile input through the Rasa server's customer channels, against the running stack (issue 12).

First one regression test per Rasa-side finding of the issue: each failed on the code as it was
(Rasa exited, the customer got ``[]``, or a 60 MB body was read).  Then the channels are fuzzed
with hypothesis (marked ``fuzz``): texts, ids and metadata with lone surrogates, NUL and control
characters, RTL and zero-width marks, combining marks, scripts, emoji, huge and deeply nested
values, and raw bodies, through REST, socket.io and Twilio's signed webhook.  Asserted for every
case: no 5xx; what input_checks.py accepts is answered and what it refuses gets a 400 (an
``input_error`` event on socket.io) without reaching the bot; and no process of the stack exited
(the launcher's children keep their pids and it logs no restart).  The number of cases is printed.

Budget: ATTUNE_FUZZ_EXAMPLES cases per channel (default 100: under a minute for the three;
``make fuzz`` sets 10 000).
"""

import asyncio
import contextlib
import json
import math
import os
import re
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from bot.components.input_checks import (
    MAX_BODY_BYTES,
    MAX_ID_CHARS,
    MAX_TEXT_CHARS,
    InvalidInput,
    check_id,
    check_metadata,
    check_text,
    clean_text,
)
from bot.components.turn_guard import NOT_PROCESSED_TEXT
from tests.support.stack import RunningStack
from tests.support.twilio_fake import AUTH_TOKEN, TWILIO_NUMBER
from tests.support.web_chat import INPUT_ERROR, web_chat

pytestmark = pytest.mark.integration

CHILDREN = ("rasa", "actions", "handoff")
REST = "/webhooks/rest/webhook"
TWILIO = "/webhooks/twilio/webhook"
REPLY_TIMEOUT = 120.0
PROBE_TIMEOUT = 3.0
# engine.io closes a socket.io connection whose frame is larger than this (max_http_buffer_size).
SOCKETIO_MAX_FRAME = 1_000_000
EXAMPLES = int(os.environ.get("ATTUNE_FUZZ_EXAMPLES") or 100)
BATCH = 4  # cases sent at once per hypothesis example


# --- the stack stays up ---------------------------------------------------------------------------


@dataclass
class Watch:
    """What "no process exited" means: same pids, launcher running, no restart in its output."""

    stack: RunningStack
    pids: dict[str, int] = field(default_factory=dict)
    since: int = 0

    def __post_init__(self) -> None:
        self.pids = {name: self.stack.pid_of(name) for name in CHILDREN}
        self.since = len(self.stack.output)

    def assert_nothing_exited(self) -> None:
        assert self.stack.launcher.poll() is None, "the launcher stopped"
        assert {name: self.stack.pid_of(name) for name in CHILDREN} == self.pids
        exits = [line for line in self.stack.output[self.since :] if "exited with code" in line]
        assert exits == [], exits


@pytest.fixture
def watch(stack: RunningStack) -> Iterator[Watch]:
    watching = Watch(stack)
    yield watching
    watching.assert_nothing_exited()
    assert asyncio.run(ask(stack, uuid.uuid4().hex, "where is my order 10002?"))[0] == 200


async def ask(stack: RunningStack, sender: Any, message: Any, **extra: Any) -> tuple[int, Any]:
    r"""POSTs a REST message (json.dumps writes a lone surrogate as its \\u escape, as curl -d does)."""
    return await post_body(stack, json.dumps({"sender": sender, "message": message, **extra}).encode())


async def post_body(
    stack: RunningStack, body: bytes, session: aiohttp.ClientSession | None = None
) -> tuple[int, Any]:
    async with contextlib.AsyncExitStack() as scope:
        if session is None:
            session = await scope.enter_async_context(aiohttp.ClientSession())
        response = await scope.enter_async_context(
            session.post(
                stack.rasa_url + REST,
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=REPLY_TIMEOUT),
            )
        )
        text = await response.text(errors="replace")
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


def texts(replies: Any) -> list[str]:
    return [str(reply.get("text", "")) for reply in replies] if isinstance(replies, list) else []


# --- regression tests, one per finding -------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "reason"),
    [("x\udfff", "U+DFFF (a lone surrogate"), ("x\x00", "U+0000 (a control character)")],
    ids=["lone-surrogate", "nul"],
)
async def test_a_rest_sender_the_store_cannot_take_is_a_400_and_rasa_keeps_serving(
    stack: RunningStack, watch: Watch, sender: str, reason: str
) -> None:
    r"""Curl -d '{"sender":"x\\udfff","message":"hi"}' stopped Rasa (SQLite: UnicodeEncodeError ->
    sys.exit), and with it the stack; NUL did the same on PostgreSQL.
    """
    status, answer = await ask(stack, sender, "hi")

    assert status == 400, answer
    assert reason in answer["message"]
    watch.assert_nothing_exited()


async def test_a_socketio_session_with_a_lone_surrogate_is_refused_and_rasa_keeps_serving(
    stack: RunningStack, watch: Watch
) -> None:
    """Rasa's session_request confirmed any session_id; its first message stopped Rasa.

    (An id that is well formed but not one the server signed gets a new session: test_trust.py.)
    """
    async with web_chat(stack) as chat:
        await chat.client.emit("session_request", {"session_id": "x\udfff"})
        refused = await chat.next_event()
        await chat.client.emit("user_uttered", {"message": "hi", "session_id": "x\udfff"})
        refused_again = await chat.next_event()

    assert refused == (INPUT_ERROR, {"error": "bad_request", "detail": refused[1]["detail"]})
    assert "U+DFFF" in refused[1]["detail"]
    assert refused_again[0] == INPUT_ERROR
    watch.assert_nothing_exited()


async def test_a_lone_surrogate_in_the_text_gets_a_real_reply(stack: RunningStack, watch: Watch) -> None:
    """The MiniLM featurizer raised on it and the customer got []."""
    status, replies = await ask(stack, uuid.uuid4().hex, "where is my order 10002? \udfff")

    assert status == 200
    assert "10002" in " ".join(texts(replies)), replies
    assert NOT_PROCESSED_TEXT not in texts(replies)


async def test_a_60_mb_body_is_refused_with_413_before_it_is_read(stack: RunningStack, watch: Watch) -> None:
    """Rasa read and JSON-parsed 60 MB (Sanic's default limit: 100 MB).  Here 64 KB of the 60 MB
    are sent and the answer must come without the rest.
    """
    host, port = stack.rasa_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            f"POST {REST} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {60 * 1000 * 1000}\r\n\r\n".encode()
        )
        writer.write(b'{"sender": "s", "message": "' + b"x" * 65_536)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(1024), timeout=30)
    finally:
        writer.close()

    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


@contextlib.contextmanager
def tracker_db_locked(stack: RunningStack) -> Iterator[None]:
    """Holds an exclusive lock on the tracker store's SQLite file: every read and write of it fails."""
    connection = sqlite3.connect(stack.var_dir / "tracker.db", timeout=30, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        connection.rollback()
        connection.close()


async def test_a_tracker_store_failure_gets_an_honest_reply_and_the_next_message_is_served(
    stack: RunningStack, watch: Watch
) -> None:
    """Store errors failed silently (Rasa answered from an empty conversation) or stopped Rasa."""
    sender = uuid.uuid4().hex
    assert (await ask(stack, sender, "where is my order 10002?"))[0] == 200

    with tracker_db_locked(stack):
        status, during = await ask(stack, sender, "and order 10001?")
    after = await ask(stack, sender, "and order 10001?")

    assert (status, texts(during)) == (200, [NOT_PROCESSED_TEXT])
    assert after[0] == 200 and "10001" in " ".join(texts(after[1])), after
    watch.assert_nothing_exited()


# --- hostile strategies ------------------------------------------------------------------------------

ANY_CHAR = st.characters(exclude_categories=())  # every code point, lone surrogates included
MARKS = [
    "\x00", "\udfff", "\ud800", "\x1b[2J", "\x7f", "\x85", "\u200f", "\u202e", "\u200b", "\u200d", "\u2028",
    "\ufeff", "e\u0301", "\u0336", "😡", "🙏🏽", "أين طلبي", "מתי", "订单", "%00", "../", "' OR 1=1 --",
    "<script>", "{", '"', "\\", "/restart", "/greet", "/request_human", "where is my order 10002",
    "I want to talk to a human", "stop analysing my emotions", "AGAIN!!!",
]  # fmt: skip
TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=300),
    st.lists(st.sampled_from(MARKS), max_size=40).map(" ".join),
    st.lists(st.one_of(st.sampled_from(MARKS), st.text(ANY_CHAR, max_size=6)), max_size=30).map("".join),
    st.tuples(
        st.text(ANY_CHAR, min_size=1, max_size=8), st.integers(MAX_TEXT_CHARS - 10, MAX_TEXT_CHARS + 10)
    ).map(lambda repeated: (repeated[0] * (repeated[1] // len(repeated[0]) + 1))[: repeated[1]]),
)
VALID_ID = st.builds(lambda: uuid.uuid4().hex)
IDS = st.one_of(
    VALID_ID,
    st.text(ANY_CHAR, max_size=MAX_ID_CHARS + 20),
    st.lists(st.sampled_from(MARKS), min_size=1, max_size=6).map("".join),
    st.integers(MAX_ID_CHARS - 2, MAX_ID_CHARS + 2).map(lambda n: uuid.uuid4().hex[:8] + "x" * (n - 8)),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(ANY_CHAR, max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(ANY_CHAR, max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return {"deep": value}


METADATA = st.one_of(
    st.none(),
    JSONISH,
    st.integers(1, 40).map(_nested),
    st.integers(15_000, 40_000).map(lambda n: {"blob": "x" * n}),
    st.builds(lambda value: {"customer": {"id": value, "phone": value, "email": value}}, TEXT),
)
ANY_VALUE = st.one_of(
    st.none(), st.integers(), st.floats(), st.booleans(), st.lists(st.integers(), max_size=3)
)


# Rasa's own commands, typed as text: they reset the conversation and say nothing (Rasa's design).
SILENT_COMMANDS = re.compile(r"\s*/(restart|session_start)(@[0-9.]+)?(\{.*\})?\s*", re.DOTALL)


def answered_in_silence(text: Any) -> bool:
    return isinstance(text, str) and bool(SILENT_COMMANDS.fullmatch(clean_text(text)))


def valid(check: Callable[[Any], Any], value: Any) -> bool:
    try:
        check(value)
    except InvalidInput:
        return False
    return True


def sendable_metadata(metadata: Any) -> bool:
    return valid(check_metadata, metadata)


# --- REST ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestCase:
    body: bytes
    accepted: bool  # what input_checks.py says: answered (200 with replies) or refused (400)
    silent: bool = False  # /restart: answered with no reply


def _rest_case(sender: Any, message: Any, metadata: Any) -> RestCase:
    fields: dict[str, Any] = {"sender": sender, "message": message}
    if metadata is not None:
        fields["metadata"] = metadata
    body = json.dumps(fields).encode()  # NaN/Infinity as JSON's extensions, lone surrogates as escapes
    accepted = valid(lambda s: check_id(s, "sender"), sender) and valid(
        lambda m: check_text(m, "message"), message
    )
    return RestCase(body, accepted and sendable_metadata(metadata), answered_in_silence(message))


RAW_BODIES = st.one_of(
    st.binary(max_size=200),
    st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 50).map(lambda n: b'{"sender": "s", "message": "hi"' + b"}" * (n % 3) + b"\xff" * n),
    st.sampled_from(
        [b"", b"null", b"[]", b"{}", b"1e999999", b'{"sender": "s", "message": NaN}', b"\xed\xb3\xbf"]
    ),
).map(lambda body: RestCase(body, False))
SITE_METADATA = st.one_of(st.none(), st.builds(lambda value: {"customer": {"id": value}}, VALID_ID))
REST_CASES = st.one_of(
    st.builds(_rest_case, VALID_ID, TEXT, SITE_METADATA),  # hostile text from a well-formed client
    st.builds(_rest_case, VALID_ID, TEXT, SITE_METADATA),
    st.builds(_rest_case, VALID_ID, TEXT, SITE_METADATA),
    st.builds(_rest_case, IDS, TEXT, METADATA),
    st.builds(_rest_case, st.one_of(IDS, ANY_VALUE), st.one_of(TEXT, ANY_VALUE, JSONISH), METADATA),
    RAW_BODIES,
)


@dataclass
class Tally:
    channel: str
    counts: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)

    def report(self) -> str:
        total = sum(self.counts.values())
        return (
            f"{self.channel}: {total} cases in {time.monotonic() - self.started:.1f} s ({dict(self.counts)})"
        )


FUZZ = settings(
    max_examples=max(1, math.ceil(EXAMPLES / BATCH)),
    deadline=None,
    database=None,
    report_multiple_bugs=False,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


def run_batch(cases: list[Any], send: Callable[[Any], Awaitable[None]]) -> None:
    async def batch() -> None:
        await asyncio.gather(*(send(case) for case in cases))

    asyncio.run(batch())


@pytest.mark.fuzz
def test_fuzz_rest(stack: RunningStack, watch: Watch) -> None:
    tally = Tally("REST")

    async def send(case: RestCase) -> None:
        if len(case.body) > MAX_BODY_BYTES:
            # Refused from the Content-Length: the server may close before the client has written
            # the body, and the client then sees the connection go instead of the 413.
            with contextlib.suppress(aiohttp.ClientConnectionError, ConnectionError):
                status, answer = await post_body(stack, case.body)
                assert status == 413, (status, answer)
            tally.counts["refused 413"] += 1
            return
        status, answer = await post_body(stack, case.body)
        assert status < 500, (status, answer, case.body[:300])
        if case.accepted:
            assert status == 200 and (texts(answer) or case.silent), (status, answer, case.body[:300])
            tally.counts["answered"] += 1
        else:
            assert status == 400, (status, answer, case.body[:300])
            tally.counts[f"refused {status}"] += 1

    @FUZZ
    @given(cases=st.lists(REST_CASES, min_size=BATCH, max_size=BATCH))
    def fuzz(cases: list[RestCase]) -> None:
        run_batch(cases, send)

    fuzz()
    print(f"\n{tally.report()}")
    watch.assert_nothing_exited()


# --- socket.io -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SocketCase:
    session_request: Any
    message: Any

    def session_ok(self) -> bool:
        data = self.session_request
        return data is None or (
            isinstance(data, dict)
            and (
                data.get("session_id") is None
                or valid(lambda s: check_id(s, "session_id"), data["session_id"])
            )
        )

    def message_ok(self) -> bool:
        data = self.message
        if not isinstance(data, dict):
            return False
        metadata = data.get("metadata")
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return False
        # A session id the store could take stands for "my session" (``sent`` puts in the id the
        # server issued); none at all is fine; anything else is another session: refused.
        return (
            (data.get("session_id") is None or valid(lambda s: check_id(s, "session_id"), data["session_id"]))
            and valid(lambda m: check_text(m, "message"), data.get("message", ""))
            and sendable_metadata(metadata)
        )

    def sent(self, signed: str) -> Any:
        """The message as the client sends it once the server confirmed its session as ``signed``."""
        data = self.message
        if isinstance(data, dict) and valid(lambda s: check_id(s, "session_id"), data.get("session_id")):
            return {**data, "session_id": signed}
        return data

    def frame_too_large(self) -> bool:
        return len(json.dumps(["user_uttered", self.message], separators=(",", ":"))) + 2 > SOCKETIO_MAX_FRAME


def _socket_case(session_id: Any, message: Any, metadata: Any, shape: int) -> SocketCase:
    request: Any = {"session_id": session_id}
    if shape == 1:
        request = None if session_id is None else session_id  # not an object
    data: Any = {"session_id": session_id, "message": message}
    if metadata is not None:
        data["metadata"] = json.dumps(metadata) if shape == 2 else metadata
    if shape == 3:
        data = message  # the message itself as the payload
    return SocketCase(request, data)


SOCKET_CASES = st.one_of(
    st.builds(_socket_case, VALID_ID, TEXT, SITE_METADATA, st.just(0)),
    st.builds(_socket_case, VALID_ID, TEXT, SITE_METADATA, st.just(0)),
    st.builds(
        _socket_case,
        st.one_of(IDS, ANY_VALUE),
        st.one_of(TEXT, ANY_VALUE, JSONISH),
        METADATA,
        st.sampled_from([0, 0, 0, 1, 2, 3]),
    ),
)


@dataclass(frozen=True)
class RawFrame:
    """A websocket frame that is not what a socket.io client sends, after a proper handshake."""

    data: str | bytes


RAW_FRAMES = st.one_of(
    st.text(ANY_CHAR, max_size=200).map(
        lambda t: t.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    ),
    st.text(max_size=100).map(lambda t: '42["user_uttered",' + t + "]"),
    st.integers(1, 200_000).map(lambda n: '42["user_uttered",' + "[" * n + "]" * n + "]"),
    st.integers(1, 200_000).map(lambda n: '42["session_request",' + '{"a":' * n + "1" + "}" * n + "]"),
    st.sampled_from(
        [
            '42["user_uttered"]',
            '42["session_request"]',
            "42[]",
            "42",
            "42null",
            '42{"a":1}',
            "41",
            "40/nope,",
            "2",
            "3",
            "6",
            "1",
            '42["user_uttered",{"session_id":"s","message":"hi"},1,2]',
            '42["disconnect"]',
            '42["connect",{}]',
            '451-["user_uttered",{"_placeholder":true,"num":0}]',
            "42[" + "1," * 10_000 + "1]",
        ]
    ),
    st.binary(max_size=200),
).map(RawFrame)


# Two socket.io conversations for each raw frame (st.one_of would give each half).
SOCKET_OR_RAW = st.sampled_from([0, 0, 1]).flatmap(lambda pick: (SOCKET_CASES, RAW_FRAMES)[pick])


async def send_raw(stack: RunningStack, frame: RawFrame) -> str:
    """Sends ``frame`` on a fresh socket.io connection, then asks for a session on it: "answered"
    when the server still serves the connection, "closed" when it closed it, "left open" when it
    neither answers nor closes within PROBE_TIMEOUT (after a frame that ends the socket.io session,
    "41" or "1", or announces a binary attachment that never comes: engine.io's ping timeout
    closes it later).
    """
    url = stack.rasa_url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
    async with aiohttp.ClientSession() as session, session.ws_connect(url, max_msg_size=0) as ws:

        async def until(prefix: str) -> bool:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT and str(message.data).startswith(prefix):
                    return True
            return False  # closed

        assert await asyncio.wait_for(until("0"), REPLY_TIMEOUT)
        await ws.send_str("40")
        assert await asyncio.wait_for(until("40"), REPLY_TIMEOUT)
        await (ws.send_bytes(frame.data) if isinstance(frame.data, bytes) else ws.send_str(frame.data))
        await ws.send_str('42["session_request",{"session_id":"probe"}]')
        try:
            served = await asyncio.wait_for(until('42["session_confirm"'), PROBE_TIMEOUT)
        except asyncio.TimeoutError:
            return "left open"
        return "answered" if served else "closed"


@pytest.mark.fuzz
async def socket_conversation(stack: RunningStack, case: SocketCase) -> tuple[str, Any]:
    """The server's answer to the session request, or else to the message ("silence" for /restart)."""
    async with web_chat(stack) as chat:
        await chat.client.emit("session_request", case.session_request)
        event, data = await chat.next_event()
        if not case.session_ok():
            return event, data
        assert event == "session_confirm", (event, data, case)
        await chat.client.emit("user_uttered", case.sent(str(data)))
        if case.message_ok() and not case.frame_too_large() and answered_in_silence(case.message["message"]):
            return "silence", None
        try:
            return await chat.next_event()
        except AssertionError as silence:
            raise AssertionError(f"{silence} to {str(case)[:2000]}") from None


def socket_outcome(case: SocketCase, event: str, data: Any) -> str:
    """What the answer to ``case`` was, for the tally, after checking it is the right one."""
    if not case.session_ok():
        assert event == INPUT_ERROR, (event, data, case)
        return "session refused"
    if event == "silence":
        return "answered in silence (/restart)"
    if case.frame_too_large():
        assert event in ("disconnect", INPUT_ERROR), (event, str(case.message)[:300])
        return "frame too large: connection closed"
    if case.message_ok():
        assert event == "bot_uttered", (event, data, case)
        return "answered"
    assert event == INPUT_ERROR, (event, data, case)
    return "message refused"


def test_fuzz_socketio(stack: RunningStack, watch: Watch) -> None:
    tally = Tally("socket.io")

    async def send(case: SocketCase | RawFrame) -> None:
        if isinstance(case, RawFrame):
            tally.counts[f"raw frame, connection {await send_raw(stack, case)}"] += 1
            return
        event, data = await socket_conversation(stack, case)
        if event == "disconnect" and case.session_ok() and case.message_ok() and not case.frame_too_large():
            # A valid message on a connection that went away (a ping missed while the machine was
            # busy): a client reconnects and sends it again; a second drop is the server's doing.
            tally.counts["reconnected and sent again"] += 1
            event, data = await socket_conversation(stack, case)
        tally.counts[socket_outcome(case, event, data)] += 1

    @FUZZ
    @given(cases=st.lists(SOCKET_OR_RAW, min_size=BATCH, max_size=BATCH))
    def fuzz(cases: list[SocketCase | RawFrame]) -> None:
        run_batch(cases, send)

    fuzz()
    print(f"\n{tally.report()}")
    watch.assert_nothing_exited()


# --- Twilio (signed webhooks) ------------------------------------------------------------------------


def _form_value(text: str) -> str:
    """Percent-encoded as bytes: a lone surrogate goes as the (invalid) UTF-8 a broken client sends."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


@dataclass(frozen=True)
class TwilioCase:
    sender: str
    body: str
    # Twilio's id of the message: each one is handled once (bot/components/message_receipts.py).
    message_sid: str = field(default_factory=lambda: "SM" + uuid.uuid4().hex)

    def form(self) -> bytes:
        fields = {
            "MessageSid": self.message_sid,
            "From": self.sender,
            "To": TWILIO_NUMBER,
            "Body": self.body,
            "NumMedia": "0",
        }
        return "&".join(f"{key}={_form_value(value)}" for key, value in fields.items()).encode()

    def accepted(self) -> bool:
        # What the server reads: the form decoded as UTF-8 with invalid bytes replaced.
        form = dict(parse_qsl(self.form().decode("utf-8", "replace"), keep_blank_values=True))
        sender = form["From"].strip()
        return (
            bool(sender)
            and valid(lambda s: check_id(s, "From"), sender)
            and valid(lambda b: check_text(b, "Body"), form["Body"])
        )


PHONES = st.from_regex(r"(whatsapp:)?\+[1-9][0-9]{9,13}", fullmatch=True)
TWILIO_CASES = st.builds(
    TwilioCase,
    st.one_of(PHONES, IDS, st.text(ANY_CHAR, max_size=20).map(lambda s: "+44" + s)),
    TEXT,
)


@pytest.mark.fuzz
def test_fuzz_twilio(stack: RunningStack, watch: Watch) -> None:
    tally = Tally("Twilio")
    url = stack.rasa_url + TWILIO

    async def send(case: TwilioCase) -> None:
        body = case.form()
        signed = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, signed),
        }
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=REPLY_TIMEOUT)
            ) as response,
        ):
            status, text = response.status, await response.text(errors="replace")
        assert status < 500, (status, text, case)
        expected = 200 if case.accepted() else 400
        assert status == expected, (status, text, case)
        tally.counts["answered" if status == 200 else "refused 400"] += 1

    @FUZZ
    @given(cases=st.lists(TWILIO_CASES, min_size=BATCH, max_size=BATCH))
    def fuzz(cases: list[TwilioCase]) -> None:
        run_batch(cases, send)

    fuzz()
    print(f"\n{tally.report()}")
    watch.assert_nothing_exited()
