"""The end-to-end benchmark's table, goal check and plot (bench/e2e.py writes the JSON they read)."""

from pathlib import Path
from typing import Any

# Issue 7's goals, printed for reference only (timing goals are never asserted in tests).
GOAL_ONE_USER_P95_MS = 150.0
GOAL_ONE_USER_RATIO = 1.25
GOAL_SUSTAINED_MSGS_PER_S = 35.0
SLA_P95_MS = 500.0


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


def ratios(attune: list[dict[str, Any]], plain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attune / plain at each load level both systems ran."""
    by_users = {level["users"]: level for level in plain}
    rows = []
    for level in attune:
        other = by_users.get(level["users"])
        if other is None:
            continue
        rows.append(
            {"users": level["users"]}
            | {key: _ratio(level[key], other[key]) for key in ("p50_ms", "p95_ms", "p99_ms", "msgs_per_s")}
            | {"cpu_ms_per_msg": _ratio(level["cpu_ms_per_msg"], other["cpu_ms_per_msg"])}
        )
    return rows


def _fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}".replace(",", " ")


def _side(level: dict[str, Any] | None) -> list[str]:
    if level is None:
        return ["-", "-", "-"]
    latency = " / ".join(_fmt(level[k]) for k in ("p50_ms", "p95_ms", "p99_ms"))
    return [latency, _fmt(level["msgs_per_s"], 1), str(level["errors"])]


def table(result: dict[str, Any]) -> str:
    """A Markdown table: one row per load level, Attune and plain side by side."""
    attune = {lv["users"]: lv for lv in result["systems"]["attune"]["levels"]}
    plain = {lv["users"]: lv for lv in result["systems"]["plain"]["levels"]}
    ratio = {row["users"]: row for row in result["ratios"]}
    lines = [
        "| users | Attune p50 / p95 / p99 ms | Attune msg/s | err"
        " | plain p50 / p95 / p99 ms | plain msg/s | err | p95 x | msg/s x | CPU ms/msg (Attune / plain) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for users in sorted(attune.keys() | plain.keys()):
        a, p, r = attune.get(users), plain.get(users), ratio.get(users, {})
        cpu = f"{_fmt(a and a['cpu_ms_per_msg'])} / {_fmt(p and p['cpu_ms_per_msg'])}"
        cells = [
            str(users),
            *_side(a),
            *_side(p),
            _fmt(r.get("p95_ms"), 2),
            _fmt(r.get("msgs_per_s"), 2),
            cpu,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    peaks = []
    for name, system in result["systems"].items():
        peak: dict[str, float] = {}
        for level in system["levels"]:
            for service, mb in level["peak_rss_mb"].items():
                peak[service] = max(peak.get(service, 0.0), mb)
        peaks.append(f"{name}: " + ", ".join(f"{s} {mb:.0f}" for s, mb in peak.items()))
    return "\n".join([*lines, "", "peak RSS MiB  " + "; ".join(peaks)])


def goals(result: dict[str, Any]) -> str:
    attune = result["systems"]["attune"]
    one = next((lv for lv in attune["levels"] if lv["users"] == 1), None)
    one_ratio = next((row["p95_ms"] for row in result["ratios"] if row["users"] == 1), None)
    lines = ["issue 7 goals (for reference):"]
    if one is not None:
        lines.append(
            f"  one user p95 {_fmt(one['p95_ms'])} ms (goal ≤ {GOAL_ONE_USER_P95_MS:.0f}), "
            f"{_fmt(one_ratio, 2)}x plain Rasa (goal ≤ {GOAL_ONE_USER_RATIO})"
        )
    for name, system in result["systems"].items():
        best = system["sustained_p95_lt_500ms"]
        figure = f"{best['msgs_per_s']:.1f} msg/s at {best['users']} users" if best else "none"
        lines.append(
            f"  {name}: sustained at p95 < {SLA_P95_MS:.0f} ms: {figure}"
            + (f" (goal ≥ {GOAL_SUSTAINED_MSGS_PER_S:.0f}, with two instances)" if name == "attune" else "")
        )
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (name, system), colour in zip(result["systems"].items(), ("tab:blue", "tab:orange"), strict=False):
        levels = [lv for lv in system["levels"] if lv["p95_ms"] is not None]
        users = [lv["users"] for lv in levels]
        latency.plot(users, [lv["p95_ms"] for lv in levels], color=colour, marker="o", label=f"{name} p95")
        latency.plot(
            users,
            [lv["p50_ms"] for lv in levels],
            color=colour,
            linestyle=":",
            marker=".",
            label=f"{name} p50",
        )
        throughput.plot(users, [lv["msgs_per_s"] for lv in levels], color=colour, marker="o", label=name)
    latency.axhline(SLA_P95_MS, color="grey", linewidth=0.8, linestyle="--", label="500 ms")
    for axis, title, unit in (
        (latency, "latency per message", "ms"),
        (throughput, "throughput", "messages/s"),
    ):
        axis.set_xscale("log", base=2)
        axis.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%d"))
        axis.set_xlabel("concurrent users")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    latency.set_yscale("log")
    figure.suptitle("Attune vs plain Rasa 3.6, REST webhook, 127.0.0.1")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
