"""Handoff service figures, measured in one run on SQLite.

    python -m bench.handoff [--accept 2000] [--stored 10000] [--outbox 200]

1. handoffs accepted per second by ``POST /api/v1/handoffs`` (8 concurrent clients, new keys);
2. the console queue page's latency (p50/p95) with ``--stored`` handoffs in the database;
3. outbox recovery: ``--outbox`` handoffs pile up in the action server's outbox while the service is
   down; time from the service coming back until all are confirmed.
Writes bench/results/handoff.json.
"""

import argparse
import asyncio
import copy
import json
import logging
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from actions.clients.handoff import HandoffClient
from actions.handoff_delivery import deliver, flush_once
from actions.outbox import Outbox
from bench.stats import summary
from handoff.app import create_app
from handoff.core.settings import Settings
from handoff.shared.conversation_ids import rest_conversation
from handoff.shared.schema_file import EXAMPLE_FILE

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token-0123456789"
PASSWORD = "bench-password"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def payload(n: int, template: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(template)
    body["idempotency_key"] = f"bench-{n:08d}"
    body["conversation_id"] = rest_conversation(f"bench-conversation-{n}")
    body["priority"] = ("normal", "high", "urgent")[n % 3]
    return body


async def start(settings: Settings, port: int) -> web.AppRunner:
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def post_many(url: str, bodies: list[dict[str, Any]], concurrency: int = 8) -> None:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            async with session.post(f"{url}/api/v1/handoffs", json=body, headers=headers) as response:
                assert response.status in (200, 201), await response.text()

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))


async def queue_page_latency(url: str, samples: int = 40) -> dict[str, float]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        page = await (await session.get(f"{url}/console/login")).text()
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        await session.post(
            f"{url}/console/login", data={"username": "agent", "password": PASSWORD, "csrf_token": token}
        )
        timings = []
        for _ in range(samples):
            started = time.perf_counter()
            async with session.get(f"{url}/console") as response:
                assert response.status == 200
                await response.read()
            timings.append((time.perf_counter() - started) * 1000)
    return summary(timings)


async def consent_latency(url: str, customers: int = 1000, samples: int = 300) -> dict[str, float]:
    """What the consent gate adds per message: one POST /api/v1/customers/resolve on loopback."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def resolve(n: int) -> float:
            body = {"identities": [{"kind": "session", "value": rest_conversation(f"bench-{n}")}]}
            started = time.perf_counter()
            async with session.post(f"{url}/api/v1/customers/resolve", json=body) as response:
                assert response.status == 200
                await response.read()
            return (time.perf_counter() - started) * 1000

        for n in range(customers):
            await resolve(n)
        timings = [await resolve(n % customers) for n in range(samples)]
    return summary(timings)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    template = json.loads(EXAMPLE_FILE.read_text())
    with tempfile.TemporaryDirectory(prefix="bench-handoff-") as work:
        settings = Settings(
            database_url=f"sqlite:///{work}/handoff.db", log_format="text", log_level="WARNING",
            api_token=TOKEN, demo_password=PASSWORD,
        )  # fmt: skip
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        runner = await start(settings, port)
        try:
            started = time.perf_counter()
            await post_many(url, [payload(n, template) for n in range(args.accept)])
            accept_seconds = time.perf_counter() - started
            rate = args.accept / accept_seconds
            print(f"accepted {args.accept} handoffs in {accept_seconds:.1f} s: {rate:.0f}/s")
            await post_many(
                url, [payload(n, template) for n in range(args.accept, args.stored)], concurrency=16
            )
            queue = await queue_page_latency(url)
            p50, p95 = queue["p50"], queue["p95"]
            print(f"console queue page, {args.stored} stored: p50 {p50:.1f} ms, p95 {p95:.1f} ms")
            consent = await consent_latency(url)
            print(f"consent lookup per message: p50 {consent['p50']:.1f} ms, p95 {consent['p95']:.1f} ms")
        finally:
            await runner.cleanup()

        # Outbox recovery: the service is down while handoffs arrive, then comes back.
        outbox = Outbox.open(f"sqlite:///{work}/outbox.db")
        client = HandoffClient(url, TOKEN, timeout=1.0)
        for n in range(args.outbox):
            result = await deliver(payload(1_000_000 + n, template), outbox, client, attempts=1, pause=0)
            assert result.status == "queued"
        runner = await start(settings, port)
        try:
            started = time.perf_counter()
            while outbox.pending_count():
                await flush_once(outbox, client, now=time.time() + 3600)
            recovery = time.perf_counter() - started
        finally:
            await runner.cleanup()
        print(f"outbox recovery: {args.outbox} pending handoffs confirmed in {recovery:.2f} s after restart")
    return {
        "accepted_per_second": args.accept / accept_seconds,
        "accept_n": args.accept,
        "stored": args.stored,
        "queue_page_ms": queue,
        "consent_lookup_ms": consent,
        "outbox_pending": args.outbox,
        "outbox_recovery_seconds": recovery,
    }


def main() -> int:
    # The outbox part makes deliveries fail on purpose; their warnings are expected noise here.
    logging.getLogger("actions").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(prog="python -m bench.handoff", description=__doc__.splitlines()[0])
    parser.add_argument("--accept", type=int, default=2000)
    parser.add_argument("--stored", type=int, default=10_000)
    parser.add_argument("--outbox", type=int, default=200)
    result = asyncio.run(run(parser.parse_args()))
    out = ROOT / "bench" / "results" / "handoff.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
