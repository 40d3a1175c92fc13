"""What the event broker adds to each customer message: Attune with the broker off and on, interleaved.

    python -m bench.e2e_broker [--levels 1,4] [--repeats 5] [--seconds 20]

Starts Attune twice, as ``make run`` does: once with endpoints.yml's ``QueuedSQLEventBroker``
(and the handoff service's analytics consumer reading it), once without an event broker
(bench/launch_without_broker.py).  Then, ``--repeats`` times, each level runs on both stacks back to
back (bench/e2e.py ``run_level``: closed-loop scripted conversations over REST), the order
alternating, so drift in the machine's load hits both alike.  Reports, per level, the median over
the repetitions of each stack's p50 and p95 per message, their spread (min-max), and the median of
the paired differences (on - off).  Writes bench/results/e2e_broker.json.
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

from bench.e2e import run_level, smoke_test
from bench.load import drive
from bench.stacks import ROOT, System, start_attune, wait_ready

STACKS = ("off", "on")
# Latency per message, and CPU per message of all the stack's processes (less noisy than latency).
MEASURES = ("p50_ms", "p95_ms", "cpu_ms_per_msg")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e_broker", description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,4", help="concurrent users per level")
    parser.add_argument("--repeats", type=int, default=5, help="runs of every level on each stack")
    parser.add_argument("--seconds", type=float, default=20.0, help="per level, stack and repetition")
    parser.add_argument("--max-messages", type=int, default=3000)
    parser.add_argument("--warmup-seconds", type=float, default=6.0)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "attune.tar.gz")
    parser.add_argument("--start-timeout", type=float, default=420.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "e2e_broker.json")
    args = parser.parse_args(argv)
    try:
        args.levels = sorted({int(x) for x in args.levels.split(",") if 0 < int(x) <= 64})
    except ValueError:
        parser.error(f"--levels takes whole numbers of users, not {args.levels!r}")
    if not args.levels or not 1 <= args.repeats <= 50:
        parser.error("--levels needs 1-64 users, --repeats 1-50")
    return args


def summary(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians and spreads of one level's runs on both stacks, and of the paired differences."""
    result: dict[str, Any] = {}
    for measure in MEASURES:
        values = {stack: [r[measure] for r in runs[stack] if r[measure] is not None] for stack in STACKS}
        pairs = [
            on[measure] - off[measure]
            for off, on in zip(runs["off"], runs["on"], strict=True)
            if off[measure] is not None and on[measure] is not None
        ]
        result[measure] = {
            **{
                stack: {"median": statistics.median(v), "min": min(v), "max": max(v)} if v else None
                for stack, v in values.items()
            },
            "added_median": round(statistics.median(pairs), 1) if pairs else None,
            "added_each_run": [round(p, 1) for p in pairs],
        }
    result["errors"] = {stack: sum(r["errors"] for r in runs[stack]) for stack in STACKS}
    result["messages"] = {stack: sum(r["messages"] for r in runs[stack]) for stack in STACKS}
    return result


def schedule(repeats: int, levels: list[int]) -> list[tuple[int, int, tuple[str, ...]]]:
    """(repeat, users, stack order) in run order: each level goes off-first and on-first in turn,
    whatever the number of levels, so neither stack always follows the other's load.
    """
    return [
        (repeat, users, STACKS if (repeat + index) % 2 == 0 else tuple(reversed(STACKS)))
        for repeat in range(repeats)
        for index, users in enumerate(levels)
    ]


async def measure(systems: dict[str, System], args: argparse.Namespace) -> dict[int, dict[str, list[Any]]]:
    tracked = {name: system.tracked() for name, system in systems.items()}
    for name, system in systems.items():
        await smoke_test(system)
        await drive(system.url, 2, args.warmup_seconds, label=f"[{name:>6} warm-up]", run_id=f"{name}-warmup")
    runs: dict[int, dict[str, list[Any]]] = {users: {stack: [] for stack in STACKS} for users in args.levels}
    for repeat, users, order in schedule(args.repeats, args.levels):
        for stack in order:
            print(f"repeat {repeat + 1}/{args.repeats}, broker {stack}:", flush=True)
            runs[users][stack].append(await run_level(systems[stack], tracked[stack], users, args))
    return runs


def _cell(level: dict[str, Any], measure: str, stack: str) -> str:
    value = level[measure][stack]
    return "n/a" if value is None else f"{value['median']:.1f} ({value['min']:.1f}-{value['max']:.1f})"


def _median(level: dict[str, Any], stack: str) -> str:
    value = level["cpu_ms_per_msg"][stack]
    return "n/a" if value is None else f"{value['median']:.1f}"


def table(levels: dict[int, Any]) -> str:
    lines = [
        "| users | off p50 (min-max) | on p50 (min-max) | added p50 | off p95 (min-max) | on p95 (min-max) "
        "| added p95 | CPU ms/msg off / on | messages off / on | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for users, level in levels.items():
        p50, p95 = level["p50_ms"], level["p95_ms"]
        lines.append(
            f"| {users} | {_cell(level, 'p50_ms', 'off')} | {_cell(level, 'p50_ms', 'on')} "
            f"| {p50['added_median']} | {_cell(level, 'p95_ms', 'off')} | {_cell(level, 'p95_ms', 'on')} "
            f"| {p95['added_median']} | {_median(level, 'off')} / {_median(level, 'on')} "
            f"| {level['messages']['off']} / {level['messages']['on']} "
            f"| {level['errors']['off'] + level['errors']['on']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    systems: dict[str, System] = {}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-broker-") as tmp:
        try:
            ready = {}
            for stack in STACKS:
                var_dir = Path(tmp, stack)
                var_dir.mkdir()
                systems[stack], ready[stack] = start_attune(
                    args.model.resolve(), var_dir, broker=stack == "on"
                )
                systems[stack].name = f"brk-{stack}"
            print("starting Attune with the broker off and on, on 127.0.0.1...", flush=True)
            for stack in STACKS:
                wait_ready(systems[stack], args.start_timeout, ready[stack])
            runs = asyncio.run(measure(systems, args))
        except RuntimeError as error:
            print(f"error: {error}", flush=True)
            return 1
        finally:
            for system in systems.values():
                system.stop()
    levels = {users: summary(by_stack) for users, by_stack in runs.items()}
    result = {
        "machine": {"cpus": os.cpu_count(), "loadavg_1m_at_end": round(os.getloadavg()[0], 2)},
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "levels": levels,
        "runs": runs,
        "total_s": round(time.monotonic() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(table(levels))
    print(f"wrote {args.out} ({result['total_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
