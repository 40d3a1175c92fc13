"""The launcher's supervision (bot/supervisor.py) with real child processes on a fake clock."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.launcher import Service, Stack
from bot.supervisor import CrashLoop, RestartPolicy, Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]
POLICY = RestartPolicy(first_delay=0.5, max_delay=4.0, burst=3, interval=60.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _wait_dead(stack: Stack, name: str) -> None:
    deadline = time.monotonic() + 10
    while stack.processes[name].poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.processes[name].poll() is not None


@pytest.fixture
def stack(tmp_path: Path):  # type: ignore[no-untyped-def]
    running = Stack({}, pid_dir=tmp_path / "run")
    for name in ("rasa", "actions", "handoff"):
        running.start(Service(name, SLEEPER, "http://127.0.0.1:9/"))
    yield running
    running.stop()


def test_a_killed_child_is_restarted_after_the_backoff_and_the_others_keep_running(
    stack: Stack, tmp_path: Path
) -> None:
    clock, lines = Clock(), []
    supervisor = Supervisor(stack, ["rasa", "actions", "handoff"], POLICY, lines.append, clock)
    others = {name: stack.processes[name].pid for name in ("rasa", "actions")}
    killed = stack.processes["handoff"].pid
    assert (tmp_path / "run" / "handoff.pid").read_text().strip() == str(killed)

    stack.processes["handoff"].send_signal(signal.SIGKILL)
    _wait_dead(stack, "handoff")
    supervisor.check()
    assert "handoff" in lines[-1] and "restarting in 0.5 s" in lines[-1] and "-9" in lines[-1]
    supervisor.check()  # not due yet: still the dead process
    assert stack.processes["handoff"].pid == killed

    clock.now += 0.5
    supervisor.check()
    restarted = stack.processes["handoff"].pid
    assert restarted != killed and stack.processes["handoff"].poll() is None
    assert (tmp_path / "run" / "handoff.pid").read_text().strip() == str(restarted)
    assert {name: stack.processes[name].pid for name in ("rasa", "actions")} == others
    assert all(stack.processes[name].poll() is None for name in others)


def test_the_backoff_doubles_and_a_crash_loop_gives_up_with_the_reason(stack: Stack) -> None:
    clock, lines = Clock(), []
    supervisor = Supervisor(stack, ["actions"], POLICY, lines.append, clock)
    delays = []
    for _ in range(POLICY.burst):
        stack.processes["actions"].send_signal(signal.SIGKILL)
        _wait_dead(stack, "actions")
        supervisor.check()
        delays.append(lines[-1].split("restarting in ")[1].split(" s")[0])
        clock.now += 10
        supervisor.check()
    assert delays == ["0.5", "1.0", "2.0"]

    stack.processes["actions"].send_signal(signal.SIGKILL)
    _wait_dead(stack, "actions")
    with pytest.raises(CrashLoop, match=r"actions exited .* after 3 restarts within 60 s"):
        supervisor.check()


def test_restarts_older_than_the_interval_no_longer_count(stack: Stack) -> None:
    clock, lines = Clock(), []
    supervisor = Supervisor(stack, ["rasa"], POLICY, lines.append, clock)
    for _ in range(POLICY.burst + 2):  # more deaths than the burst, but spread over time
        stack.processes["rasa"].send_signal(signal.SIGKILL)
        _wait_dead(stack, "rasa")
        supervisor.check()
        clock.now += 1
        supervisor.check()
        assert stack.processes["rasa"].poll() is None
        clock.now += POLICY.interval + 1  # this restart has left the window by the next death
    assert "restarting in 0.5 s" in lines[-2]


def test_the_children_stop_when_the_launcher_itself_is_killed(tmp_path: Path) -> None:
    """A launcher killed outright must not leave its children serving unsupervised."""
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from bot.launcher import Service, Stack\n"
        f"stack = Stack({{}}, pid_dir=Path({str(tmp_path)!r}))\n"
        f"stack.start(Service('child', {SLEEPER!r}, 'http://127.0.0.1:9/'))\n"
        "print('started', flush=True)\n"
        "time.sleep(600)\n"
    )
    launcher = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert launcher.stdout is not None and launcher.stdout.readline().strip() == "started"
    child = int((tmp_path / "child.pid").read_text())
    launcher.kill()
    launcher.wait()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; only its parent's wait is missing


def test_a_restarted_rasa_is_followed_by_its_after_restart_command_once(tmp_path: Path) -> None:
    """Make run's Rasa is restarted with a backfill beside it (the events its predecessor still had
    queued for the broker); the command runs once per restart, in the stack's environment.
    """
    marker = tmp_path / "after-restart.log"
    note = [sys.executable, "-c", "import os; open(os.environ['MARKER'], 'a').write('ran\\n')"]
    running = Stack({"MARKER": str(marker)}, pid_dir=tmp_path / "run")
    running.start(Service("rasa", SLEEPER, "http://127.0.0.1:9/", after_restart=note))
    try:
        clock = Clock()
        supervisor = Supervisor(running, ["rasa"], POLICY, lambda line: None, clock)
        assert not marker.exists()  # not at the first start

        running.processes["rasa"].send_signal(signal.SIGKILL)
        _wait_dead(running, "rasa")
        supervisor.check()
        clock.now += 1
        supervisor.check()

        assert running.after_restart["rasa"].wait(30) == 0
        assert marker.read_text() == "ran\n"
    finally:
        running.stop()


def test_make_runs_rasa_backfills_from_the_brokers_last_event_after_a_restart(tmp_path: Path) -> None:
    from bot.launcher import RASA_BACKFILL, Ports, services

    found = {s.name: s for s in services(Ports(5005, 5055, 5056), tmp_path, tmp_path / "m.tar.gz", "t")}

    assert list(found["rasa"].after_restart) == list(RASA_BACKFILL)
    assert RASA_BACKFILL[-4:] == ("analytics", "backfill", "--since", "broker")
    assert not found["actions"].after_restart and not found["handoff"].after_restart
