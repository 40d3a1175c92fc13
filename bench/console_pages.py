"""Console pages with a full database: p50/p95 of each page with 10 000 handoffs and 100 000 messages.

    python -m bench.console_pages [--handoffs 10000] [--messages-per-handoff 10] [--samples 200]

The database is seeded directly (as many handoffs would leave it after months: mostly resolved,
with dispositions and the human part kept, some queued and claimed, ~5 handoffs per verified
customer), then the service starts on it, its search rows are built (the time is printed), and an
agent's browser asks each page ``--samples`` times in turn: queue, a handoff, search (by order
number, by customer, by words, by status), a customer's history, the resolved list (plain and
filtered).  Prints p50/p95 per page and writes bench/results/console_pages.json.  Goal: p95 <= 150 ms.
"""

import argparse
import asyncio
import copy
import json
import random
import re
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from bench.handoff import PASSWORD, free_port, start
from bench.stats import summary
from handoff.core.app_keys import ENGINE
from handoff.core.db import create_engine_for
from handoff.core.models import Agent, Customer, CustomerIdentity, Handoff
from handoff.core.settings import Settings
from handoff.history import search_index
from handoff.shared.schema_file import EXAMPLE_FILE

ROOT = Path(__file__).resolve().parent.parent
GOAL_MS = 150.0
WORDS = ("parcel", "refund", "courier", "damaged", "late", "missing", "invoice", "charge", "cancel", "kettle")
DISPOSITIONS = ("solved", "order_located", "refund_or_replacement", "customer_left")


def _lines(rng: random.Random, count: int, order: str) -> list[dict[str, Any]]:
    speakers = ("customer", "bot")
    return [
        {
            "speaker": speakers[i % 2],
            "text": f"{' '.join(rng.choices(WORDS, k=8))} {order}, ring 07700 900{i:03d}, x{i}@mail.com",
            "at": "2026-03-10T12:00:00+00:00",
        }
        for i in range(count)
    ]


def seed(url: str, handoffs: int, per_handoff: int, agents: list[int]) -> list[str]:
    """Writes the handoffs and customers; returns the handoff ids, oldest first."""
    rng = random.Random(19)
    template = json.loads(EXAMPLE_FILE.read_text())
    engine = create_engine_for(url)
    customers = [f"cust-{n:016x}" for n in range(max(1, handoffs // 5))]
    # Within the retention period (the purge worker would delete older ones): one every 4 minutes.
    start_at = datetime.now(timezone.utc) - timedelta(minutes=4 * handoffs + 60)
    ids, rows = [], []
    for n in range(handoffs):
        order = str(100000 + n)
        body = copy.deepcopy(template)
        body["idempotency_key"] = f"bench-console-{n:08d}"
        body["conversation_id"] = f"web:{uuid.uuid4().hex}"
        body["customer"]["pseudonym"] = customers[n % len(customers)]
        body["slots"]["order_id"] = order
        human = max(0, per_handoff - 6)
        body["transcript"] = _lines(rng, per_handoff - human, order)
        created = start_at + timedelta(minutes=4 * n)
        status = "queued" if n >= handoffs - 20 else "claimed" if n >= handoffs - 30 else "resolved"
        handoff_id = str(uuid.uuid4())
        ids.append(handoff_id)
        resolved = status == "resolved"
        rows.append(
            {
                "id": handoff_id,
                "conversation_id": body["conversation_id"],
                "idempotency_key": body["idempotency_key"],
                "status": status,
                "priority": n % 3,
                "reason": body["reason"],
                "payload": json.dumps(body),
                "created_at": created,
                "updated_at": created,
                "claimed_by": agents[n % len(agents)] if status != "queued" else None,
                "claimed_at": created if status != "queued" else None,
                "agent_seen_at": datetime.now(timezone.utc) if status == "claimed" else None,
                "resolved_at": created + timedelta(minutes=5) if resolved else None,
                "resolved_by": agents[n % len(agents)] if resolved else None,
                "human_transcript": json.dumps(_lines(rng, human, order)) if resolved else None,
                "disposition": DISPOSITIONS[n % len(DISPOSITIONS)] if resolved else None,
            }
        )
    with Session(engine) as session, session.begin():
        session.execute(
            insert(Customer),
            [{"id": c, "emotion_processing": "on", "created_at": start_at} for c in customers],
        )
        session.execute(
            insert(CustomerIdentity),
            [
                {"kind": "id", "value": f"login-{c}", "customer_id": c, "created_at": start_at}
                for c in customers
            ],
        )
        for chunk in range(0, len(rows), 1000):
            session.execute(insert(Handoff), rows[chunk : chunk + 1000])
    engine.dispose()
    return ids


async def _log_in(session: aiohttp.ClientSession, url: str) -> None:
    page = await (await session.get(f"{url}/console/login")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"username": "agent", "password": PASSWORD, "csrf_token": token}
    async with session.post(f"{url}/console/login", data=form) as response:
        assert response.status == 200, await response.text()


def _pages(ids: list[str], rng: random.Random, agent: int) -> dict[str, Any]:
    """Each page's next path (a function of the sample's number, so every sample asks something else)."""
    n = len(ids)
    since = (datetime.now(timezone.utc) - timedelta(days=14)).date().isoformat()
    return {
        "queue": lambda i: "/console",
        "handoff": lambda i: f"/console/handoffs/{ids[rng.randrange(n)]}",
        "search (order)": lambda i: f"/console/search?kind=order&q={100000 + rng.randrange(n)}",
        "search (customer)": lambda i: f"/console/search?kind=customer&q=cust-{rng.randrange(n // 5):016x}",
        "search (words)": lambda i: f"/console/search?q={'+'.join(rng.sample(WORDS, 2))}",
        "search (status)": lambda i: "/console/search?status=resolved&page=3",
        "history": lambda i: f"/console/handoffs/{ids[rng.randrange(n)]}/history",
        "resolved": lambda i: "/console/resolved",
        "resolved (filtered)": lambda i: (
            f"/console/resolved?disposition=solved&agent={agent}&from={since}&page=2"
        ),
    }


async def measure(url: str, ids: list[str], samples: int, agent: int) -> dict[str, dict[str, float]]:
    rng = random.Random(7)
    pages = _pages(ids, rng, agent)
    timings: dict[str, list[float]] = {name: [] for name in pages}
    # CPU time of this process (the service runs in it) per request: what the page costs on an idle machine.
    cpu: dict[str, list[float]] = {name: [] for name in pages}
    # unsafe: the cookie jar keeps cookies of an IP address (127.0.0.1) only when told to.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        await _log_in(session, url)
        for name, path in pages.items():  # one warm-up each
            async with session.get(url + path(0)) as response:
                assert response.status == 200, (name, response.status, await response.text())
        for i in range(samples):
            for name, path in pages.items():
                started, cpu_started = time.perf_counter(), time.process_time()
                async with session.get(url + path(i)) as response:
                    await response.read()
                    assert response.status == 200, (name, response.status)
                timings[name].append((time.perf_counter() - started) * 1000)
                cpu[name].append((time.process_time() - cpu_started) * 1000)
    return {
        name: {**summary(values), "cpu_p50": summary(cpu[name])["p50"], "cpu_p95": summary(cpu[name])["p95"]}
        for name, values in timings.items()
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-console-") as work:
        url = f"sqlite:///{work}/handoff.db"
        settings = Settings(database_url=url, log_format="text", log_level="WARNING", demo_password=PASSWORD)
        port = free_port()
        runner = await start(settings, port)  # migrates and creates the demo accounts
        try:
            engine = runner.app[ENGINE]
            with Session(engine) as session:
                agents = list(session.execute(select(Agent.id).order_by(Agent.id)).scalars())
            started = time.perf_counter()
            ids = await asyncio.to_thread(seed, url, args.handoffs, args.messages_per_handoff, agents)
            seeded = time.perf_counter() - started
            started = time.perf_counter()
            await asyncio.to_thread(search_index.catch_up_all, engine)
            indexed = time.perf_counter() - started
            print(f"seeded {args.handoffs} handoffs, {args.handoffs * args.messages_per_handoff} messages "
                  f"in {seeded:.1f} s; search rows built in {indexed:.1f} s")  # fmt: skip
            pages = await measure(f"http://127.0.0.1:{port}", ids, args.samples, agents[0])
        finally:
            await runner.cleanup()
    for name, figures in pages.items():
        verdict = "ok" if figures["p95"] <= GOAL_MS else "OVER"
        print(
            f"{name:20s} p50 {figures['p50']:6.1f} ms  p95 {figures['p95']:6.1f} ms  {verdict:4s} "
            f"(CPU per request p50 {figures['cpu_p50']:5.1f} ms, p95 {figures['cpu_p95']:5.1f} ms)"
        )
    return {
        "handoffs": args.handoffs,
        "messages": args.handoffs * args.messages_per_handoff,
        "samples": args.samples,
        "goal_p95_ms": GOAL_MS,
        "index_seconds": round(indexed, 1),
        "pages": pages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handoffs", type=int, default=10_000)
    parser.add_argument("--messages-per-handoff", type=int, default=10)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    results = asyncio.run(run(args))
    out = ROOT / "bench" / "results" / "console_pages.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
