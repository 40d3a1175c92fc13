"""A newcomer's `make run`: the banner says where to chat and how to log in, ports are settable, and
SIGINT stops the launcher even when it was started in the background with SIGINT ignored.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot import launcher

ROOT = Path(__file__).resolve().parents[2]
PORTS = launcher.Ports(5105, 5155, 5156)
LOGINS = ["agent / s3cret-1 (agent)", "designer / s3cret-4 (designer)"]


def test_the_banner_shows_the_web_chat_the_logins_the_playground_and_the_scores() -> None:
    shown = launcher.banner(PORTS, rasa_token="rasa-tok", logins=LOGINS)

    assert "http://127.0.0.1:5156/chat" in shown
    assert "http://127.0.0.1:5156/console/playground" in shown
    assert all(login in shown for login in LOGINS)
    assert "http://127.0.0.1:5105/conversations/me/tracker?token=rasa-tok" in shown
    assert shown.index("web chat") < shown.index("REST")  # first, not buried


def test_without_new_logins_the_banner_says_how_to_get_a_password() -> None:
    shown = launcher.banner(PORTS)

    assert "attune agents reset admin" in shown and "token=" not in shown


def test_only_the_handoff_services_account_lines_are_kept_as_logins() -> None:
    logins = launcher.Logins()
    for line in ["INFO starting\n", "console account created: admin / pw (admin)\n", "created: x\n"]:
        logins.read(line)

    assert logins.lines == ["admin / pw (admin)"]


@pytest.mark.parametrize("port", ["0", "70000", "http", "-1"])
def test_a_port_that_is_no_port_is_refused(port: str) -> None:
    with pytest.raises(SystemExit):
        launcher.parse_args(["--rasa-port", port])


def test_ports_come_from_the_command_line() -> None:
    args = launcher.parse_args(["--rasa-port", "5105", "--handoff-port", "5156"])

    assert (args.rasa_port, args.actions_port, args.handoff_port) == (5105, 5055, 5156)


WAIT = """
import sys, time
from bot import launcher
if sys.argv[1] == "fixed":
    launcher.stop_on_interrupt()
print("ready", flush=True)
try:
    time.sleep(30)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(0)
sys.exit(3)
"""


def _in_background(mode: str) -> subprocess.Popen[str]:
    """As a shell without job control starts `make run &`: SIGINT ignored from the start."""
    process = subprocess.Popen(
        [sys.executable, "-c", WAIT, mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    return process


def test_sigint_stops_a_launcher_started_with_sigint_ignored() -> None:
    fixed, unfixed = _in_background("fixed"), _in_background("unfixed")
    try:
        fixed.send_signal(signal.SIGINT)
        unfixed.send_signal(signal.SIGINT)
        output, _ = fixed.communicate(timeout=20)
        time.sleep(0.5)

        assert fixed.returncode == 0 and "interrupted" in output
        assert unfixed.poll() is None  # what the launcher did before: the signal was lost
    finally:
        for process in (fixed, unfixed):
            if process.poll() is None:
                process.kill()
                process.wait()
