"""The supervisor dashboard over 1 000 000 turns: p50/p95 of the page and a CSV export.

    python -m bench.dashboard [--turns 1000000] [--days 90] [--samples 100]
                              [--database sqlite|postgres | --database-url URL]

The analytics tables are seeded directly (as the consumer would leave them after ``--days`` days:
about 8 turns per conversation over four channels, a fifth escalating, a sixth handed off, one in
ten opted out of emotion analysis, call-backs and CSAT answers), the daily roll-ups are built once
(the time is printed), then the service starts on the database and a supervisor's browser asks, in
turn, the whole period, the last 30 days of one channel, and one metric's CSV.  Each request brings
the roll-ups up to date first, and the service's roll-up worker recomputes today's and yesterday's
every 30 s, as in production.  Prints p50/p95 per page and writes bench/results/dashboard.json
(dashboard-postgres.json for PostgreSQL).  Goal: p95 <= 300 ms.

``--database sqlite`` (the default) uses a temp file; ``--database postgres`` a private PostgreSQL
(bench/postgres.py, Debian's server from ``make datastores``), analysed after the load and after the
roll-up build, as autovacuum would; ``--database-url`` an empty database of yours (migrated here;
its tables must be empty).
"""

import argparse
import asyncio
import json
import random
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import insert, text

from bench.handoff import PASSWORD, free_port, start
from bench.postgres import private_postgres
from bench.stats import summary
from handoff.analytics import rollups
from handoff.core.db import create_engine_for
from handoff.core.migrate import upgrade_to_head
from handoff.core.models import (
    AnalyticsCallback,
    AnalyticsConversation,
    AnalyticsCsat,
    AnalyticsEscalation,
    AnalyticsTurn,
)
from handoff.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
GOAL_MS = 300.0
CHANNELS = ("web", "rest", "sms", "whatsapp")
TONES = ("neutral", "apologetic", "reassuring", "empathetic")
OUTCOMES = ("order_found", "refund_issued", "order_not_found", "delivery_delayed", None, None)
REASONS = ("customer_request", "frustration", "failed_self_service", "distress")
CALLBACK_STATUSES = ("booked", "completed", "no_answer", "failed")
CHUNK = 20_000


def _conversation(rng: random.Random, n: int, start: datetime, rows: dict[str, list[dict[str, Any]]]) -> int:
    """Adds one conversation's rows; returns its number of turns."""
    channel = CHANNELS[n % len(CHANNELS)]
    conversation_id = f"{channel}:bench-{n:09d}"
    turns = rng.randint(4, 12)
    consent = rng.random() > 0.1
    escalate_at = rng.randint(2, turns) if rng.random() < 0.2 else None
    handed_off = escalate_at is not None and rng.random() < 0.8
    tone = "neutral"
    for turn in range(1, turns + 1):
        if rng.random() < 0.2:
            tone = rng.choice(TONES)
        frustration = min(1.0, 0.08 * turn + rng.random() * 0.2)
        rows["turns"].append(
            {
                "conversation_id": conversation_id,
                "event_key": f"t{turn}",
                "at": start + timedelta(seconds=20 * turn),
                "turn": turn,
                "intent": "order_status",
                "confidence": 0.9,
                "outcome": rng.choice(OUTCOMES) if turn > 1 else None,
                "tone": tone,
                "decision": "offer_human" if turn == escalate_at else "none",
                "emotion_processing": "on" if consent else "off",
                "frustration": frustration if consent else None,
                "distress": 0.05 if consent else None,
            }
        )
    first_escalation = start + timedelta(seconds=20 * escalate_at + 1) if escalate_at else None
    if escalate_at is not None:
        rows["escalations"].append(
            {
                "conversation_id": conversation_id,
                "event_key": "e",
                "at": first_escalation,
                "turn": escalate_at,
                "decision": "offer_human",
                "reason": rng.choice(REASONS),
            }
        )
    end = start + timedelta(seconds=20 * turns + 30)
    if rng.random() < 0.03:
        status = rng.choice(CALLBACK_STATUSES)
        rows["callbacks"].append(
            {"conversation_id": conversation_id, "event_key": "c", "at": end, "status": status}
        )
    if rng.random() < 0.1:
        score = rng.choice((1, 2, 3, 4, 4, 5, 5, 5))
        rows["csat"].append(
            {"conversation_id": conversation_id, "event_key": "s", "at": end, "score": score, "comment": None}
        )
    rows["conversations"].append(
        {
            "conversation_id": conversation_id,
            "channel": channel,
            "started_at": start + timedelta(seconds=20),
            "last_event_at": end,
            "turns": turns,
            "escalations": 1 if escalate_at else 0,
            "first_escalation_at": first_escalation,
            "first_escalation_turn": escalate_at,
            "handoff_status": "delivered" if handed_off else None,
        }
    )
    return turns


MODELS = {
    "conversations": AnalyticsConversation,
    "turns": AnalyticsTurn,
    "escalations": AnalyticsEscalation,
    "callbacks": AnalyticsCallback,
    "csat": AnalyticsCsat,
}


def seed(url: str, turns: int, days: int) -> dict[str, int]:
    """Writes about ``turns`` turns spread over the last ``days`` days; returns the row counts."""
    rng = random.Random(21)
    engine = create_engine_for(url)
    now = datetime.now(timezone.utc)
    first = now - timedelta(days=days)
    counts = dict.fromkeys(MODELS, 0)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in MODELS}
    written, n = 0, 0
    while written < turns:
        start = first + timedelta(seconds=rng.uniform(0, days * 86_400 - 600))
        written += _conversation(rng, n, start, rows)
        n += 1
        if len(rows["turns"]) >= CHUNK or written >= turns:
            with engine.begin() as connection:
                for name, model in MODELS.items():
                    if rows[name]:
                        connection.execute(insert(model), rows[name])
                        counts[name] += len(rows[name])
                        rows[name] = []
    engine.dispose()
    return counts


async def _log_in(session: aiohttp.ClientSession, url: str) -> None:
    page = await (await session.get(f"{url}/console/login")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    form = {"username": "supervisor", "password": PASSWORD, "csrf_token": token}
    async with session.post(f"{url}/console/login", data=form) as response:
        assert response.status == 200, await response.text()


async def measure(url: str, days: int, samples: int) -> dict[str, dict[str, float]]:
    today = datetime.now(timezone.utc).date()
    whole = f"from={(today - timedelta(days=days)).isoformat()}&to={today.isoformat()}"
    month = f"from={(today - timedelta(days=29)).isoformat()}&to={today.isoformat()}&channel=sms"
    pages = {
        f"dashboard ({days + 1} days, all channels)": f"/console/dashboard?{whole}",
        "dashboard (30 days, sms)": f"/console/dashboard?{month}",
        "escalations.csv (whole period)": f"/console/dashboard/escalations.csv?{whole}",
    }
    timings: dict[str, list[float]] = {name: [] for name in pages}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        await _log_in(session, url)
        for name, path in pages.items():  # one warm-up each
            async with session.get(url + path) as response:
                assert response.status == 200, (name, response.status, await response.text())
        for _ in range(samples):
            for name, path in pages.items():
                started = time.perf_counter()
                async with session.get(url + path) as response:
                    await response.read()
                    assert response.status == 200, (name, response.status)
                timings[name].append((time.perf_counter() - started) * 1000)
    return {name: summary(values) for name, values in timings.items()}


@contextmanager
def database(args: argparse.Namespace) -> Iterator[str]:
    """The URL of the database the bench runs on, thrown away afterwards (unless it is the user's)."""
    if args.database_url:
        yield args.database_url
    elif args.database == "postgres":
        with private_postgres() as url:
            yield url
    else:
        with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as work:
            yield f"sqlite:///{work}/handoff.db"


def analyse(url: str) -> None:
    """PostgreSQL: the planner's statistics after a bulk load (what autovacuum does a minute later)."""
    if url.startswith("sqlite"):
        return
    engine = create_engine_for(url)
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    engine.dispose()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with database(args) as url:
        upgrade_to_head(url)
        started = time.perf_counter()
        counts = await asyncio.to_thread(seed, url, args.turns, args.days)
        await asyncio.to_thread(analyse, url)
        seeded = time.perf_counter() - started
        engine = create_engine_for(url)
        started = time.perf_counter()
        built = await asyncio.to_thread(rollups.rebuild, engine, datetime.now(timezone.utc))
        rolled = time.perf_counter() - started
        await asyncio.to_thread(analyse, url)  # the roll-up table's statistics, likewise
        # What each pass of the roll-up worker costs (a page, without the worker, once a minute).
        later = datetime.now(timezone.utc) + 2 * rollups.DEFAULT_TTL
        started = time.perf_counter()
        await asyncio.to_thread(rollups.refresh, engine, later.date(), later.date(), later)
        open_days_ms = (time.perf_counter() - started) * 1000
        engine.dispose()
        print(f"open days (today, yesterday) recomputed in {open_days_ms:.0f} ms")
        print(f"seeded {counts} in {seeded:.1f} s; roll-ups of {built.days} days built in {rolled:.1f} s")
        settings = Settings(database_url=url, log_format="text", log_level="WARNING", demo_password=PASSWORD)
        port = free_port()
        runner = await start(settings, port)
        try:
            pages = await measure(f"http://127.0.0.1:{port}", args.days, args.samples)
        finally:
            await runner.cleanup()
    for name, figures in pages.items():
        verdict = "ok" if figures["p95"] <= GOAL_MS else "OVER"
        print(f"{name:36s} p50 {figures['p50']:6.1f} ms  p95 {figures['p95']:6.1f} ms  {verdict}")
    return {
        "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        "rows": counts,
        "days": args.days,
        "samples": args.samples,
        "goal_p95_ms": GOAL_MS,
        "seed_seconds": round(seeded, 1),
        "rollup_build_seconds": round(rolled, 1),
        "open_days_refresh_ms": round(open_days_ms, 1),
        "pages": pages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--samples", type=int, default=100)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    where.add_argument("--database-url", help="an empty database of yours (e.g. postgresql://...)")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    name = "dashboard.json" if results["database"] == "sqlite" else "dashboard-postgres.json"
    out = ROOT / "bench" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
