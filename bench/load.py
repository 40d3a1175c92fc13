"""Simulated customers: N concurrent scripted conversations over Rasa's REST webhook.

Each user runs one conversation after another (bench/conversations.py), each with a fresh sender
id, and sends its next message as soon as the bot has answered the last one (closed loop), or no
sooner than ``pace`` seconds after the previous one (steady traffic for the soak).  Latency is one
``POST /webhooks/rest/webhook`` from request to complete JSON reply.  Every customer is the demo
customer signed in (a token for C-1001, signed with the bench stack's identity key): self-service
shows her orders, as it would to a signed-in customer (plain Rasa ignores the header).  Errors:
HTTP errors, time-outs and empty replies (every script turn gets a reply, and Rasa answers ``[]``
when handling failed).
"""

import asyncio
import random
import sys
import time
from dataclasses import dataclass, field

import aiohttp

from bench.conversations import DEMO_CUSTOMER, pick
from bench.stacks import BENCH_IDENTITY_KEY
from bench.stats import percentile
from handoff.shared.identity_tokens import sign_identity_token

REQUEST_TIMEOUT_SECONDS = 30.0


@dataclass
class Samples:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_examples: list[str] = field(default_factory=list)
    empty_replies: int = 0
    conversations: int = 0
    elapsed_s: float = 0.0

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_examples) < 5:
            self.error_examples.append(what)

    @property
    def messages(self) -> int:
        return len(self.latencies_ms) + self.errors

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q) if self.latencies_ms else float("nan")


async def send(session: aiohttp.ClientSession, url: str, sender: str, text: str, samples: Samples) -> None:
    started = time.perf_counter()
    try:
        async with session.post(url, json={"sender": sender, "message": text}) as response:
            body = await response.json(content_type=None) if response.status == 200 else await response.text()
            if response.status != 200:
                samples.error(f"HTTP {response.status}: {str(body)[:200]}")
                return
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        samples.error(f"{type(error).__name__}: {error}")
        return
    if not body:
        # Rasa's REST channel answers 200 [] when handling the message raised: an error.
        samples.empty_replies += 1
        samples.error(f"empty reply to {text!r}")
        return
    samples.latencies_ms.append((time.perf_counter() - started) * 1000)


async def user(
    session: aiohttp.ClientSession,
    url: str,
    name: str,
    deadline: float,
    budget: list[int],
    samples: Samples,
    pace: float,
) -> None:
    rng = random.Random(name)
    conversation = 0
    while time.monotonic() < deadline and budget[0] > 0:
        conversation += 1
        sender = f"{name}-c{conversation}"
        _, messages = pick(rng)
        samples.conversations += 1
        for text in messages:
            if time.monotonic() >= deadline or budget[0] <= 0:
                return
            budget[0] -= 1
            sent = time.monotonic()
            await send(session, url, sender, text, samples)
            if pace:
                await asyncio.sleep(max(0.0, pace - (time.monotonic() - sent)))


def _bar(done: float, width: int = 20) -> str:
    filled = int(min(max(done, 0.0), 1.0) * width)
    return "█" * filled + "░" * (width - filled)


async def _progress(label: str, samples: Samples, started: float, seconds: float, every: float) -> None:
    """A bar redrawn in place on a terminal; a line every ``every`` seconds otherwise."""
    tty = sys.stdout.isatty()
    while True:
        await asyncio.sleep(0.5 if tty else every)
        elapsed = time.monotonic() - started
        recent = samples.latencies_ms[-200:]
        line = (
            f"{label} {_bar(elapsed / seconds)} {elapsed:5.1f}/{seconds:.0f} s  msgs {samples.messages:5d}"
            f"  {samples.messages / max(elapsed, 1e-9):6.1f}/s"
            f"  p95 {percentile(recent, 0.95) if recent else float('nan'):7.1f} ms  errors {samples.errors}"
        )
        print(f"\r{line}", end="", flush=True) if tty else print(line, flush=True)


async def drive(
    base_url: str,
    users: int,
    seconds: float,
    *,
    max_messages: int = 1_000_000,
    label: str = "",
    run_id: str = "bench",
    pace: float = 0.0,
    progress_every: float = 5.0,
) -> Samples:
    """``users`` concurrent customers for ``seconds`` (or ``max_messages`` messages, if fewer)."""
    url = f"{base_url}/webhooks/rest/webhook"
    samples = Samples()
    budget = [max_messages]
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    connector = aiohttp.TCPConnector(limit=0)
    token = sign_identity_token(DEMO_CUSTOMER["id"], BENCH_IDENTITY_KEY, **DEMO_CUSTOMER["claims"])
    headers = {"Authorization": f"Bearer {token}"}
    started = time.monotonic()
    deadline = started + seconds
    progress = asyncio.create_task(_progress(label, samples, started, seconds, progress_every))
    try:
        async with aiohttp.ClientSession(timeout=timeout, connector=connector, headers=headers) as session:
            await asyncio.gather(
                *(user(session, url, f"{run_id}-u{i}", deadline, budget, samples, pace) for i in range(users))
            )
    finally:
        progress.cancel()
        if sys.stdout.isatty():
            print("\r\033[K", end="", flush=True)
    samples.elapsed_s = time.monotonic() - started
    return samples


async def first_reply_problems(base_url: str, name: str) -> list[str]:
    """What went wrong with one scripted message (nothing: it got a reply)."""
    samples = await drive(base_url, 1, 60.0, max_messages=1, label=f"[{name} smoke]", run_id=f"{name}-smoke")
    return samples.error_examples
