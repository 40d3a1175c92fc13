"""Keeps ``make run``'s three processes serving: a child that dies is restarted, the others go on.

What systemd does for a production install (deploy/systemd, ``Restart=on-failure`` with
``StartLimitBurst``), in the launcher for one terminal: a child that exits unexpectedly is started
again after a backoff (0.5 s, 1 s, 2 s ... up to 10 s), and the launcher says so.  A child that keeps
dying (more than ``burst`` restarts within ``interval`` seconds) is a crash loop — a broken
configuration, not bad luck — and restarting it forever would only hide that: the supervisor gives
up and the launcher stops the stack with the reason.

Only the standard library, like the launcher: it must not drag Rasa into the launcher process.
"""

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# How long to watch a restarted child for its first answer (Rasa loads its model in about a minute).
REPORT_BACK_SECONDS = 600.0


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 0.5
    max_delay: float = 10.0
    # The crash-loop limit: at most ``burst`` restarts of one child within ``interval`` seconds.
    burst: int = 5
    interval: float = 120.0

    def delay(self, recent_restarts: int) -> float:
        """Seconds to wait before the next restart, after ``recent_restarts`` within the interval."""
        return float(min(self.max_delay, self.first_delay * 2**recent_restarts))


class ChildProcess(Protocol):
    pid: int

    def poll(self) -> int | None: ...


class Children(Protocol):
    """What the supervisor needs of bot.launcher.Stack."""

    # Read-only here (the supervisor only looks children up), so a Stack's dict of Popen objects fits.
    @property
    def processes(self) -> Mapping[str, ChildProcess]: ...

    def restart(self, name: str) -> None: ...

    def answers(self, name: str) -> bool: ...


@dataclass
class _Child:
    restarts: deque[float] = field(default_factory=deque)  # monotonic times of recent restarts
    due: float | None = None  # when the pending restart is due
    died_at: float | None = None


class CrashLoop(RuntimeError):
    """A child died more often than the policy allows; the message says which and how often."""


class Supervisor:
    """Call ``check()`` every fraction of a second from the launcher's main loop."""

    def __init__(
        self,
        children: Children,
        names: Sequence[str],
        policy: RestartPolicy = RestartPolicy(),
        log: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._children = children
        self._state = {name: _Child() for name in names}
        self._policy = policy
        self._log = log
        self._clock = clock

    def check(self) -> None:
        """Schedules a restart for each child that died and starts those that are due.

        Raises CrashLoop when a child has used up its restarts.
        """
        now = self._clock()
        for name, state in self._state.items():
            if state.due is None:
                self._notice_exit(name, state, now)
            elif now >= state.due:
                self._restart(name, state, now)

    def _notice_exit(self, name: str, state: _Child, now: float) -> None:
        process = self._children.processes[name]
        code = process.poll()
        if code is None:
            return
        while state.restarts and now - state.restarts[0] > self._policy.interval:
            state.restarts.popleft()
        if len(state.restarts) >= self._policy.burst:
            raise CrashLoop(
                f"{name} exited (code {code}) after {len(state.restarts)} restarts within "
                f"{self._policy.interval:.0f} s: a crash loop, not restarting it again"
            )
        delay = self._policy.delay(len(state.restarts))
        state.due, state.died_at = now + delay, now
        self._log(
            f"{name} (pid {process.pid}) exited with code {code}; restarting in {delay:.1f} s "
            f"(restart {len(state.restarts) + 1} of at most {self._policy.burst} "
            f"in {self._policy.interval:.0f} s); the others keep serving"
        )

    def _restart(self, name: str, state: _Child, now: float) -> None:
        state.restarts.append(now)
        died_at = state.died_at if state.died_at is not None else now
        state.due = state.died_at = None
        try:
            self._children.restart(name)
        except OSError as error:  # e.g. the interpreter vanished: counts as a failed start
            self._log(f"{name} could not be started again: {error}")
            state.due, state.died_at = now + self._policy.delay(len(state.restarts)), died_at
            return
        pid = self._children.processes[name].pid
        self._log(f"{name} restarted (pid {pid})")
        threading.Thread(target=self._report_back, args=(name, pid, died_at), daemon=True).start()

    def _report_back(self, name: str, pid: int, died_at: float) -> None:
        """Logs when the restarted child answers again: the recovery time bench/faults.py reports."""
        process = self._children.processes[name]
        deadline = time.monotonic() + REPORT_BACK_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            if self._children.answers(name):
                self._log(f"{name} is back (pid {pid}), {self._clock() - died_at:.1f} s after it exited")
                return
            time.sleep(0.1)
