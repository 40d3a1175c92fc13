"""Growth: how the cost of a message grows over one long conversation, Attune against plain Rasa in one run.

    python -m bench.growth [--turns 200] [--warmup-turns 8]

Starts Attune (``python -m bot.launcher``) and the plain Rasa 3.6 assistant of bench/plain_rasa.py on
127.0.0.1 (bench/stacks.py), warms both up with a short conversation, then sends each the same
conversation of ``--turns`` calm self-service messages over REST, one message at a time, turn by
turn to both systems (who goes first alternates, so the shared cores' background load hits both
alike).  The customer is the demo customer signed in (bench/load.py), and the self-service limits per
conversation are raised, since one conversation here makes a hundred lookups.

Measured per system: latency of every turn (median of a window around turns 10, 100 and 200,
bench/growth_report.py); CPU ms per message of every service process (Rasa, action server, and the
handoff service for Attune) from /proc, over the same windows and the whole conversation; the Rasa
server's RSS; and the conversation's rows in the SQLite tracker store's ``events`` table (bytes and
events per turn, and per kind of event).  Writes bench/results/growth.json and growth.md.
"""

import argparse
import asyncio
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiohttp

from bench import growth_report
from bench.conversations import DEMO_CUSTOMER
from bench.load import REQUEST_TIMEOUT_SECONDS, first_reply_problems
from bench.plain_rasa import trained_model
from bench.procstats import Tracked
from bench.stacks import BENCH_IDENTITY_KEY, ROOT, UNLIMITED, System, start_attune, start_plain, wait_ready
from handoff.shared.conversation_ids import rest_conversation
from handoff.shared.identity_tokens import sign_identity_token

MAX_TURNS = 5000
# A calm customer checking on her orders (the demo customer Dana's).  She opens by giving her
# e-mail address when asked: plain Rasa, which ignores her token, asks for it and keeps it in a
# slot, so from then on both systems answer every order question with a store lookup.
OPENING = ("where is my order 10011?", "dana@example.com")
CALM_TURNS = (
    "ok thanks",
    "where is my order 10012?",
    "great, thank you",
    "has order 10011 shipped yet?",
    "ok thanks",
    "where is my refund for order 10012",
    "cheers",
    "where is my order 10011?",
)
# One conversation makes a lookup every other turn: the per-conversation limits (actions/settings.py)
# would answer most of them with "too many attempts" and measure that instead.
LOAD_LIMITS = {
    "ATTUNE_SELF_SERVICE_LOOKUPS_PER_CONVERSATION": UNLIMITED,
    "ATTUNE_SELF_SERVICE_FAILED_CHECKS_PER_CONVERSATION": UNLIMITED,
}
# Replies kept in the JSON for the first and last turns, to see that the bot stayed on script.
KEPT_REPLIES = len(OPENING) + len(CALM_TURNS)


def positive_turns(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_TURNS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_TURNS}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m bench.growth", description=doc.splitlines()[0])
    parser.add_argument("--turns", type=positive_turns, default=200, help="customer messages to each system")
    parser.add_argument("--warmup-turns", type=positive_turns, default=8, help="in a separate conversation")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "attune.tar.gz")
    parser.add_argument("--start-timeout", type=float, default=420.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "growth.json")
    return parser.parse_args(argv)


def script(turns: int) -> list[str]:
    """The opening, then the calm turns over and over, ``turns`` messages in all."""
    repeats = -(-max(turns - len(OPENING), 0) // len(CALM_TURNS))
    return [*OPENING, *CALM_TURNS * repeats][:turns]


@dataclass
class Run:
    """One system's measured conversation: per turn latency (None: failed), CPU and RSS readings."""

    system: System
    tracked: list[Tracked]
    sender: str
    latencies_ms: list[float | None] = field(default_factory=list)
    # service -> cumulative CPU seconds; index 0 is the reading before turn 1
    cpu_s: dict[str, list[float]] = field(default_factory=dict)
    rasa_rss_mb: list[float] = field(default_factory=list)
    replies: list[list[str]] = field(default_factory=list)  # [turn, message, reply...] of answered turns
    errors: list[str] = field(default_factory=list)

    def read_procs(self) -> None:
        for service in self.tracked:
            self.cpu_s.setdefault(service.name, []).append(service.cpu())
            if service.name == "rasa":
                self.rasa_rss_mb.append(service.sample())


async def send(session: aiohttp.ClientSession, url: str, sender: str, text: str) -> tuple[float | None, Any]:
    """(latency ms, reply texts) or (None, what went wrong)."""
    started = time.perf_counter()
    payload = {"sender": sender, "message": text}
    try:
        async with session.post(f"{url}/webhooks/rest/webhook", json=payload) as r:
            body = await r.json(content_type=None) if r.status == 200 else await r.text()
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        return None, f"{type(error).__name__}: {error}"
    elapsed = (time.perf_counter() - started) * 1000
    if r.status != 200:
        return None, f"HTTP {r.status}: {str(body)[:200]}"
    if not body:  # Rasa answers 200 [] when handling the message failed
        return None, f"empty reply to {text!r}"
    return elapsed, [str(m.get("text", m.get("buttons", ""))) for m in body if isinstance(m, dict)]


async def turn(session: aiohttp.ClientSession, run: Run, number: int, text: str) -> None:
    latency, reply = await send(session, run.system.url, run.sender, text)
    run.read_procs()
    run.latencies_ms.append(latency)
    if latency is None:
        run.errors.append(f"turn {number}: {reply}")
    else:
        run.replies.append([str(number), text, *reply])


def session() -> aiohttp.ClientSession:
    claims = cast(dict[str, str], DEMO_CUSTOMER["claims"])
    token = sign_identity_token(
        str(DEMO_CUSTOMER["id"]), BENCH_IDENTITY_KEY, phone=claims["phone"], email=claims["email"]
    )
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
        headers={"Authorization": f"Bearer {token}"},
    )


async def converse(runs: list[Run], messages: list[str], log: Callable[[str], None]) -> None:
    async with session() as http:
        for run in runs:
            run.read_procs()
        for number, text in enumerate(messages, start=1):
            order = runs if number % 2 else runs[::-1]
            for run in order:
                run.system.check_alive()
                await turn(http, run, number, text)
            if number % 10 == 0 or number == len(messages):
                log(f"turn {number:4d}/{len(messages)}  median of the last 10: {_recent(runs, number)}")


def _recent(runs: list[Run], number: int) -> str:
    span = (max(1, number - 9), number)
    medians = {r.system.name: growth_report.window_median(r.latencies_ms, span) for r in runs}
    return "  ".join(f"{name} {'-' if m is None else round(m)} ms" for name, m in medians.items())


async def warm_up(systems: dict[str, System], turns: int) -> None:
    for name, system in systems.items():
        problems = await first_reply_problems(system.url, name)
        if problems:
            tail = "".join(list(system.output)[-30:])
            raise RuntimeError(f"{name} does not answer properly: {problems}\n{tail}")
    warm = [Run(system, [], f"growth-warmup-{name}") for name, system in systems.items()]
    await converse(warm, script(turns), lambda _: None)


def stored_events(db: Path, sender: str) -> list[growth_report.Event]:
    """The conversation's rows in Rasa's SQL tracker store, in the order they were written."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        rows = connection.execute(
            "SELECT type_name, action_name, data FROM events WHERE sender_id IN (?, ?) ORDER BY id",
            (sender, rest_conversation(sender)),
        ).fetchall()
    events = []
    for type_name, action_name, stored in rows:
        data = stored or ""
        name = json.loads(data or "{}").get("name") if type_name == "slot" else action_name
        events.append(growth_report.Event(growth_report.event_key(type_name, name), len(data.encode())))
    return events


def figures(run: Run, tracker_db: Path, turns: int) -> dict[str, Any]:
    tracker = growth_report.tracker_figures(stored_events(tracker_db, run.sender))
    spans = {t: growth_report.window(t, turns) for t in growth_report.checkpoints(turns)}
    total_cpu = [sum(values) for values in zip(*run.cpu_s.values(), strict=True)]
    per_msg = growth_report.cpu_ms_per_message
    latency = {str(t): _round(growth_report.window_median(run.latencies_ms, s)) for t, s in spans.items()}
    return {
        "windows": {str(t): list(s) for t, s in spans.items()},
        "latency_ms": latency,
        "latency_growth": growth_report.growth(latency),
        "cpu_ms_per_msg": {str(t): round(per_msg(total_cpu, s), 1) for t, s in spans.items()},
        "cpu_ms_per_msg_all": round(per_msg(total_cpu, (1, turns)), 1),
        "cpu_ms_per_msg_by_service": {
            name: round(per_msg(values, (1, turns)), 1) for name, values in run.cpu_s.items()
        },
        "rasa_rss_mb": {
            "start": _round(run.rasa_rss_mb[0] if run.rasa_rss_mb else None),
            "end": _round(run.rasa_rss_mb[-1] if run.rasa_rss_mb else None),
            "peak": _round(max(run.rasa_rss_mb, default=None)),
        },
        "tracker": growth_report.tracker_summary(tracker, spans),
        "errors": len(run.errors),
        "error_examples": run.errors[:5],
        "replies_first_turns": run.replies[:KEPT_REPLIES],
        "replies_last_turns": run.replies[-KEPT_REPLIES:],
        "latencies_ms": [_round(v) for v in run.latencies_ms],
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    plain_model, _ = trained_model()
    systems: dict[str, System] = {}
    dirs = {name: tmp / name for name in ("attune", "plain")}
    try:
        for directory in dirs.values():
            directory.mkdir()
        systems["attune"], attune_ready = start_attune(args.model.resolve(), dirs["attune"], LOAD_LIMITS)
        systems["plain"] = start_plain(plain_model, dirs["plain"], LOAD_LIMITS)
        print("starting Attune and plain Rasa on 127.0.0.1...", flush=True)
        wait_ready(systems["attune"], args.start_timeout, attune_ready)
        wait_ready(systems["plain"], args.start_timeout)
        asyncio.run(warm_up(systems, args.warmup_turns))
        runs = [Run(s, s.tracked(), f"growth-{name}-{os.getpid()}") for name, s in systems.items()]
        print(f"one conversation of {args.turns} turns to each system...", flush=True)
        asyncio.run(converse(runs, script(args.turns), lambda line: print(line, flush=True)))
    finally:
        for system in systems.values():
            system.stop()
    # Read once both have stopped: every event is on disk.
    return {
        name: figures(run, dirs[name] / "tracker.db", args.turns)
        for name, run in zip(systems, runs, strict=True)
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-growth-") as tmp:
        try:
            systems = measure(args, Path(tmp))
        except RuntimeError as error:  # a system did not start, died or does not answer
            print(f"error: {error}", flush=True)
            return 1
    result = {
        "machine": {"cpus": os.cpu_count(), "loadavg_1m": round(os.getloadavg()[0], 2)},
        "turns": args.turns,
        "checkpoints": growth_report.checkpoints(args.turns),
        "script": {"opening": list(OPENING), "then, over and over": list(CALM_TURNS)},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "systems": systems,
        "total_s": round(time.monotonic() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    report = growth_report.markdown(result)
    args.out.with_suffix(".md").write_text(report)
    print(report)
    print(f"wrote {args.out} and {args.out.with_suffix('.md')} ({result['total_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
