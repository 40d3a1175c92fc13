"""Soak: steady mixed traffic against Attune for a long while, memory sampled throughout.

    python -m bench.soak [--minutes 20] [--users 6] [--rate 3]

Starts Attune as ``make run`` does (``python -m bot.launcher``) on free loopback ports, warms it up,
then ``--users`` customers run the scripted conversations of bench/conversations.py at about
``--rate`` messages per second in all (each waits ``users / rate`` seconds between its messages).
The resident memory of each process (Rasa, action server, handoff service) is sampled every
``--sample-seconds``; the trend is the least-squares slope in MiB per minute, over the whole run and
over its second half (after caches have filled).  Writes bench/results/soak.json.  Not run in CI.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.load import drive, first_reply_problems
from bench.procstats import Tracked
from bench.stacks import ROOT, start_attune, wait_ready

# A process whose second-half slope stays under this is called flat (30 MiB an hour).
FLAT_MB_PER_MIN = 0.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--users", type=int, default=6)
    parser.add_argument("--rate", type=float, default=3.0, help="messages per second, all users together")
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "attune.tar.gz")
    parser.add_argument("--start-timeout", type=float, default=420.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "soak.json")
    return parser.parse_args(argv)


def slope_mb_per_min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (minute, MiB) points."""
    if len(points) < 3:
        return None
    minutes, mb = zip(*points, strict=True)
    return round(statistics.linear_regression(minutes, mb).slope, 3)


async def sample(tracked: list[Tracked], every: float, series: dict[str, list[tuple[float, float]]]) -> None:
    started = time.monotonic()
    while True:
        minute = (time.monotonic() - started) / 60
        for service in tracked:
            series[service.name].append((round(minute, 3), round(service.sample(), 1)))
        await asyncio.sleep(every)


async def soak(url: str, tracked: list[Tracked], args: argparse.Namespace) -> dict[str, Any]:
    problems = await first_reply_problems(url, "attune")
    if problems:
        raise RuntimeError(f"Attune does not answer properly: {problems}")
    print("warming up (10 s)...", flush=True)
    await drive(url, 2, 10.0, label="[warm-up]", run_id="soak-warmup")
    series: dict[str, list[tuple[float, float]]] = {t.name: [] for t in tracked}
    cpu_before = {t.name: t.cpu() for t in tracked}
    sampler = asyncio.create_task(sample(tracked, args.sample_seconds, series))
    try:
        samples = await drive(
            url,
            args.users,
            args.minutes * 60,
            label=f"[soak {args.users} users]",
            run_id="soak",
            pace=args.users / args.rate,
            progress_every=60.0,
        )
    finally:
        sampler.cancel()
    processes = {}
    for service in tracked:
        points = series[service.name]
        half = [p for p in points if p[0] >= args.minutes / 2]
        processes[service.name] = {
            "rss_start_mb": points[0][1] if points else None,
            "rss_end_mb": points[-1][1] if points else None,
            "rss_peak_mb": round(service.peak_rss_mb, 1),
            "slope_mb_per_min": slope_mb_per_min(points),
            "slope_second_half_mb_per_min": slope_mb_per_min(half),
            "cpu_s": round(service.cpu() - cpu_before[service.name], 1),
            "samples": points,
        }
    return {
        "minutes": args.minutes,
        "users": args.users,
        "target_msgs_per_s": args.rate,
        "messages": samples.messages,
        "conversations": samples.conversations,
        "msgs_per_s": round(len(samples.latencies_ms) / samples.elapsed_s, 2),
        "errors": samples.errors,
        "error_examples": samples.error_examples,
        "empty_replies": samples.empty_replies,
        "p50_ms": round(samples.p(0.50), 1),
        "p95_ms": round(samples.p(0.95), 1),
        "p99_ms": round(samples.p(0.99), 1),
        "processes": processes,
    }


def report(result: dict[str, Any]) -> str:
    r = result
    lines = [
        f"soak: {r['minutes']:g} min, {r['messages']} messages in {r['conversations']} conversations"
        f" ({r['msgs_per_s']}/s), errors {r['errors']},"
        f" p50 {r['p50_ms']} / p95 {r['p95_ms']} / p99 {r['p99_ms']} ms",
        "| process | RSS start -> end MiB | peak | slope MiB/min (all / 2nd half) | trend |",
        "|---|---|---|---|---|",
    ]
    for name, p in result["processes"].items():
        late = p["slope_second_half_mb_per_min"]
        trend = (
            "?"
            if late is None
            else ("flat" if abs(late) < FLAT_MB_PER_MIN else "GROWING" if late > 0 else "falling")
        )
        lines.append(
            f"| {name} | {p['rss_start_mb']} -> {p['rss_end_mb']} | {p['rss_peak_mb']} | "
            f"{p['slope_mb_per_min']} / {late} | {trend} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        system, ready = start_attune(args.model.resolve(), Path(tmp))
        try:
            print("starting Attune on 127.0.0.1...", flush=True)
            wait_ready(system, args.start_timeout, ready)
            result = asyncio.run(soak(system.url, system.tracked(), args))
            system.check_alive()
        except RuntimeError as error:
            print(f"error: {error}\n" + "".join(list(system.output)[-30:]), flush=True)
            return 1
        finally:
            system.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(report(result))
    print(f"wrote {args.out}")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
