"""The pure arithmetic of bench/growth.py: windows of turns, medians, tracker bytes per turn, the report.

Turns are numbered from 1 (the first customer message of the measured conversation).  A
checkpoint's figure is the median over a window of ``WINDOW`` turns around it that stays inside the
conversation (turn 10: turns 6-15; turn 200 of 200: turns 191-200), so one slow message (a
garbage collection, another process on the shared cores) does not decide it.
"""

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

CHECKPOINTS = (10, 100, 200)
WINDOW = 10
# Events before the first customer message (session start, the first action_listen) belong to turn 0.
SESSION_TURN = 0


def checkpoints(turns: int) -> list[int]:
    """The issue's turns 10, 100 and 200 that a run of ``turns`` reaches, and always its last turn."""
    if turns < 1:
        raise ValueError("a conversation has at least one turn")
    return sorted({t for t in CHECKPOINTS if t <= turns} | {turns})


def window(turn: int, turns: int, width: int = WINDOW) -> tuple[int, int]:
    """First and last turn (inclusive) of the window around ``turn``: 4 before to 5 after, inside 1..turns."""
    if not 1 <= turn <= turns:
        raise ValueError(f"turn {turn} is outside 1..{turns}")
    first = max(1, min(turn - (width - 1) // 2, turns - width + 1))
    return first, min(turns, first + width - 1)


def window_median(values: Sequence[float | None], span: tuple[int, int]) -> float | None:
    """Median of the per-turn ``values`` (index 0 is turn 1) in ``span``, skipping failed turns (None)."""
    picked = [v for v in values[span[0] - 1 : span[1]] if v is not None]
    return statistics.median(picked) if picked else None


def cpu_ms_per_message(cumulative_s: Sequence[float], span: tuple[int, int]) -> float:
    """CPU ms per message over ``span``.

    ``cumulative_s[i]`` is the CPU seconds used once turn ``i`` was answered; ``cumulative_s[0]`` is
    the reading just before turn 1.
    """
    first, last = span
    return 1000 * (cumulative_s[last] - cumulative_s[first - 1]) / (last - first + 1)


def event_key(type_name: str, name: str | None) -> str:
    """How an event is counted: slots by their name (``slot:tone``), actions as ``action:<name>``."""
    if type_name in ("slot", "action") and name:
        return f"{type_name}:{name}"
    return type_name


@dataclass(frozen=True)
class Event:
    """One row of Rasa's SQL tracker store ``events`` table, as counted here."""

    key: str
    size: int  # bytes of the stored JSON (the ``data`` column, UTF-8)


@dataclass
class TrackerFigures:
    """A conversation's stored events, split by the customer turn they belong to."""

    bytes_per_turn: list[int] = field(default_factory=list)  # index = turn, 0 = before the first message
    events_per_turn: list[int] = field(default_factory=list)
    by_key: dict[str, list[int]] = field(default_factory=dict)  # key -> [events, bytes]

    @property
    def turns(self) -> int:
        return len(self.bytes_per_turn) - 1

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_per_turn)


def tracker_figures(events: Iterable[Event]) -> TrackerFigures:
    """Bytes and events per turn and per kind; a ``user`` event opens the next turn."""
    figures = TrackerFigures([0], [0])
    for event in events:
        if event.key == "user":
            figures.bytes_per_turn.append(0)
            figures.events_per_turn.append(0)
        figures.bytes_per_turn[-1] += event.size
        figures.events_per_turn[-1] += 1
        counts = figures.by_key.setdefault(event.key, [0, 0])
        counts[0] += 1
        counts[1] += event.size
    return figures


def breakdown(figures: TrackerFigures, top: int = 12) -> list[dict[str, Any]]:
    """The largest kinds of event by bytes: share of all bytes, events and bytes per turn, mean size."""
    total = figures.total_bytes or 1
    turns = max(figures.turns, 1)
    rows = sorted(figures.by_key.items(), key=lambda item: -item[1][1])
    return [
        {
            "event": key,
            "share": round(size / total, 3),
            "events_per_turn": round(count / turns, 2),
            "bytes_per_turn": round(size / turns),
            "mean_bytes": round(size / count),
        }
        for key, (count, size) in rows[:top]
    ]


def tracker_summary(figures: TrackerFigures, spans: dict[int, tuple[int, int]]) -> dict[str, Any]:
    turns = max(figures.turns, 1)
    at = {
        str(turn): round(statistics.fmean(figures.bytes_per_turn[a : b + 1]))
        for turn, (a, b) in spans.items()
        if b <= figures.turns
    }
    return {
        "turns_stored": figures.turns,
        "total_bytes": figures.total_bytes,
        "bytes_per_turn": round(figures.total_bytes / turns),
        "events_per_turn": round(sum(figures.events_per_turn) / turns, 1),
        "bytes_per_turn_at": at,
        "breakdown": breakdown(figures),
    }


def growth(values: dict[str, float | None]) -> float | None:
    """Last checkpoint over the first (turn 10 in a full run); None when either is missing."""
    ordered = sorted(values.items(), key=lambda item: int(item[0]))
    if len(ordered) < 2 or not ordered[0][1] or ordered[-1][1] is None:
        return None
    return round(ordered[-1][1] / ordered[0][1], 2)


def _cell(value: Any, unit: str = "") -> str:
    return "-" if value is None else f"{value}{unit}"


def markdown(result: dict[str, Any]) -> str:
    """The short report: latency, CPU and tracker per checkpoint for each system, then the byte breakdown."""
    marks = [str(t) for t in result["checkpoints"]]
    head = " | ".join(f"turn {m}" for m in marks)
    lines = [
        f"Growth over one conversation of {result['turns']} calm self-service turns "
        f"({result['machine']['cpus']} CPUs, shared; load average {result['machine']['loadavg_1m']}).",
        "",
        f"| system | median ms: {head} | growth | CPU ms/msg: {head} | CPU ms/msg, all | "
        "tracker bytes/turn | events/turn | Rasa RSS MiB (end) | errors |",
        "|---|" + "---|" * (2 * len(marks) + 6),
    ]
    for name, s in result["systems"].items():
        latency = " | ".join(_cell(s["latency_ms"].get(m)) for m in marks)
        cpu = " | ".join(_cell(s["cpu_ms_per_msg"].get(m)) for m in marks)
        lines.append(
            f"| {name} | {latency} | {_cell(s['latency_growth'], 'x')} | {cpu} | {s['cpu_ms_per_msg_all']} | "
            f"{s['tracker']['bytes_per_turn']} | {s['tracker']['events_per_turn']} | "
            f"{s['rasa_rss_mb']['end']} | {s['errors']} |"
        )
    for name, s in result["systems"].items():
        lines += ["", f"{name}: where the tracker's bytes go", "", "| event | share | per turn | mean size |"]
        lines.append("|---|---|---|---|")
        for row in s["tracker"]["breakdown"]:
            lines.append(
                f"| `{row['event']}` | {100 * row['share']:.0f}% | {row['events_per_turn']} events, "
                f"{row['bytes_per_turn']} B | {row['mean_bytes']} B |"
            )
    return "\n".join(lines) + "\n"
