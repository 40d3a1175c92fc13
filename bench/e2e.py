"""End to end: Attune against a plain Rasa 3.6 assistant, same dialogue, same run, over HTTP.

    python -m bench.e2e [--quick] [--levels 1,2,4,8,16,32] [--max-users 32] [--seconds 20]

Starts Attune (``python -m bot.launcher``: Rasa, action server, handoff service) and the plain
assistant of bench/plain_rasa.py (trained once, cached) on 127.0.0.1, warms both up, then for each
load level drives that many concurrent scripted conversations (bench/conversations.py) at each
system in turn: per-message p50/p95/p99, messages/s, errors, CPU seconds and peak RSS per process,
and the Attune/plain ratios.  Stops raising the load on a system whose p95 passed ``--stop-p95-ms``.
Writes bench/results/e2e.json and bench/results/e2e.png (p95 and throughput against load).
"""

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import e2e_report
from bench.load import Samples, drive, first_reply_problems
from bench.plain_rasa import trained_model
from bench.procstats import Tracked
from bench.stacks import ROOT, System, start_attune, start_plain, wait_ready

SLA_P95_MS = 500.0
SAMPLE_EVERY_SECONDS = 0.5


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="levels 1,4,16 for 8 s each (about 3 min, model cached)"
    )
    parser.add_argument("--levels", default="1,2,4,8,16,32", help="concurrent users per level")
    parser.add_argument("--max-users", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0, help="per level and system")
    parser.add_argument("--max-messages", type=int, default=3000, help="per level and system")
    parser.add_argument("--warmup-seconds", type=float, default=6.0)
    parser.add_argument(
        "--stop-p95-ms", type=float, default=5000.0, help="no higher levels for a system past this"
    )
    parser.add_argument(
        "--broker",
        choices=("on", "off"),
        default="on",
        help="Attune with its event broker (as make run) or without (bench/e2e_broker.py compares both)",
    )
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "attune.tar.gz")
    parser.add_argument("--start-timeout", type=float, default=420.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "e2e.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.levels, args.seconds, args.warmup_seconds = "1,4,16", 8.0, 4.0
    args.levels = sorted({n for n in (int(x) for x in args.levels.split(",")) if 0 < n <= args.max_users})
    return args


async def sample_rss(tracked: list[Tracked], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for service in tracked:
            service.sample()
        try:
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY_SECONDS)
        except asyncio.TimeoutError:
            continue


def level_figures(
    users: int, samples: Samples, cpu: dict[str, float], rss: dict[str, float]
) -> dict[str, Any]:
    done = len(samples.latencies_ms)
    return {
        "users": users,
        "messages": samples.messages,
        "conversations": samples.conversations,
        "errors": samples.errors,
        "error_examples": samples.error_examples,
        "empty_replies": samples.empty_replies,
        "seconds": round(samples.elapsed_s, 2),
        "msgs_per_s": round(done / samples.elapsed_s, 2) if samples.elapsed_s else 0.0,
        "mean_ms": round(statistics.fmean(samples.latencies_ms), 1) if done else None,
        "p50_ms": round(samples.p(0.50), 1) if done else None,
        "p95_ms": round(samples.p(0.95), 1) if done else None,
        "p99_ms": round(samples.p(0.99), 1) if done else None,
        "cpu_s": {name: round(value, 2) for name, value in cpu.items()},
        "cpu_ms_per_msg": round(1000 * sum(cpu.values()) / done, 1) if done else None,
        "peak_rss_mb": {name: round(value, 1) for name, value in rss.items()},
        "loadavg_1m": round(os.getloadavg()[0], 2),
    }


async def smoke_test(system: System) -> None:
    """One message must get a reply before anything is measured."""
    problems = await first_reply_problems(system.url, system.name)
    if problems:
        tail = "".join(list(system.output)[-30:])
        raise RuntimeError(f"{system.name} does not answer properly: {problems}\n{tail}")


async def run_level(
    system: System, tracked: list[Tracked], users: int, args: argparse.Namespace
) -> dict[str, Any]:
    system.check_alive()
    for service in tracked:
        service.peak_rss_mb = 0.0
    cpu_before = {t.name: t.cpu() for t in tracked}
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(tracked, stop))
    label = f"[{system.name:>6} {users:>2} users]"
    samples = await drive(
        system.url,
        users,
        args.seconds,
        max_messages=args.max_messages,
        label=label,
        run_id=f"{system.name}-{users}u",
    )
    stop.set()
    await sampler
    cpu = {t.name: t.cpu() - cpu_before[t.name] for t in tracked}
    figures = level_figures(users, samples, cpu, {t.name: t.peak_rss_mb for t in tracked})
    print(
        f"{label} {figures['messages']:5d} msgs  {figures['msgs_per_s']:6.1f}/s  p50 {figures['p50_ms']} "
        f"p95 {figures['p95_ms']} p99 {figures['p99_ms']} ms  errors {figures['errors']}  "
        f"CPU {sum(cpu.values()):.1f} s ({figures['cpu_ms_per_msg']} ms/msg)",
        flush=True,
    )
    if samples.error_examples:
        print(f"    first errors: {samples.error_examples[:2]}; the server's last lines:", flush=True)
        print("".join(list(system.output)[-15:]), flush=True)
    return figures


async def measure(systems: dict[str, System], args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    tracked = {name: system.tracked() for name, system in systems.items()}
    for name, system in systems.items():
        await smoke_test(system)
        print(f"warming up {name} ({args.warmup_seconds:.0f} s)...", flush=True)
        await drive(system.url, 2, args.warmup_seconds, label=f"[{name:>6} warm-up]", run_id=f"{name}-warmup")
    levels: dict[str, list[dict[str, Any]]] = {name: [] for name in systems}
    saturated: set[str] = set()
    for index, users in enumerate(args.levels):
        # Alternate who goes first, so drift in the machine's background load hits both alike.
        order = list(systems) if index % 2 == 0 else list(reversed(systems))
        for name in order:
            if name in saturated:
                continue
            figures = await run_level(systems[name], tracked[name], users, args)
            levels[name].append(figures)
            if figures["p95_ms"] is None or figures["p95_ms"] > args.stop_p95_ms:
                print(f"[{name:>6}] p95 past {args.stop_p95_ms:.0f} ms: no higher levels", flush=True)
                saturated.add(name)
    for name, services in tracked.items():
        peaks = {t.name: round(max(t.rss_samples, default=0.0), 1) for t in services}
        print(f"[{name:>6}] peak RSS over the run: {peaks} MiB", flush=True)
    return levels


def sustained(levels: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The best messages/s of a level whose p95 stayed under the SLA (no errors)."""
    ok = [lv for lv in levels if lv["p95_ms"] is not None and lv["p95_ms"] < SLA_P95_MS and not lv["errors"]]
    best = max(ok, key=lambda lv: lv["msgs_per_s"], default=None)
    return (
        {"msgs_per_s": best["msgs_per_s"], "users": best["users"], "p95_ms": best["p95_ms"]} if best else None
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    print(
        f"levels {args.levels} users, {args.seconds:.0f} s each per system; {os.cpu_count()} CPUs", flush=True
    )
    plain_model, _ = trained_model()
    trained_by = time.monotonic()
    systems: dict[str, System] = {}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        try:
            attune_dir, plain_dir = Path(tmp, "attune"), Path(tmp, "plain")
            attune_dir.mkdir()
            plain_dir.mkdir()
            systems["attune"], attune_ready = start_attune(
                args.model.resolve(), attune_dir, broker=args.broker == "on"
            )
            systems["plain"] = start_plain(plain_model, plain_dir)
            print("starting Attune and plain Rasa on 127.0.0.1...", flush=True)
            wait_ready(systems["attune"], args.start_timeout, attune_ready)
            wait_ready(systems["plain"], args.start_timeout)
            startup = time.monotonic() - trained_by
            print(f"both ready in {startup:.0f} s", flush=True)
            levels = asyncio.run(measure(systems, args))
        except RuntimeError as error:  # a system did not start, died or does not answer
            print(f"error: {error}", flush=True)
            return 1
        finally:
            for system in systems.values():
                system.stop()
    result = {
        "machine": {"cpus": os.cpu_count()},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "plain_model": str(plain_model.relative_to(ROOT)),
        "plain_training_or_cache_s": round(trained_by - started, 1),
        "startup_s": round(startup, 1),
        "systems": {
            name: {"levels": lv, "sustained_p95_lt_500ms": sustained(lv)} for name, lv in levels.items()
        },
        "ratios": e2e_report.ratios(levels["attune"], levels["plain"]),
        "total_s": round(time.monotonic() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(e2e_report.table(result))
    print(e2e_report.goals(result))
    plot = args.out.with_suffix(".png")
    e2e_report.plot(result, plot)
    print(f"wrote {args.out} and {plot} ({result['total_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
