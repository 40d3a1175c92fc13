"""CPU seconds and resident memory of the benchmarked processes: psutil when installed, else /proc."""

import os
from dataclasses import dataclass, field
from pathlib import Path

try:
    import psutil
except ImportError:  # not a dependency of Rasa; /proc says the same on Linux
    psutil = None

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024
# What reading a process that just exited raises.
GONE: tuple[type[Exception], ...] = (OSError, IndexError, ValueError) + ((psutil.Error,) if psutil else ())


def _proc_children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    if psutil is not None:
        try:
            return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
        except GONE:
            return []
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += _proc_children(current)
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (0 when it is gone)."""
    try:
        if psutil is not None:
            times = psutil.Process(pid).cpu_times()
            return float(times.user + times.system)
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    except GONE:
        return 0.0


def rss_mb(pid: int) -> float:
    """Resident set size of one process in MiB (0 when it is gone)."""
    try:
        if psutil is not None:
            return float(psutil.Process(pid).memory_info().rss) / MB
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES / MB
    except GONE:
        return 0.0


@dataclass
class Tracked:
    """One named service: its main process and whatever it started."""

    name: str
    pid: int
    peak_rss_mb: float = 0.0
    rss_samples: list[float] = field(default_factory=list)

    def pids(self) -> list[int]:
        return descendants(self.pid)

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids())

    def rss(self) -> float:
        return sum(rss_mb(pid) for pid in self.pids())

    def sample(self) -> float:
        value = self.rss()
        self.peak_rss_mb = max(self.peak_rss_mb, value)
        self.rss_samples.append(value)
        return value
