"""The whole stack started through the README's run path (bot.launcher) on free loopback ports.

``start_stack`` is what the integration and fault tests use: it starts the launcher as a person
would (``make run``), waits for its banner, and on exit presses Ctrl-C and checks that everything
stopped.  The launcher writes each child's pid to ``<var_dir>/run/<name>.pid`` (bot/launcher.py),
which is how a fault test finds the process to kill.
"""

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, TWILIO_NUMBER, FakeTwilioThread

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 420.0
STOP_TIMEOUT = 60.0
DEMO_PASSWORD = "integration-demo-password"
RASA_TOKEN = "integration-test-token"
HANDOFF_TOKEN = "integration-handoff-token"
# The stack's keys (bot/launcher.py): tests sign identity tokens and session ids with them.
IDENTITY_KEY = "integration-identity-key-0123456789abcdef"
SESSION_KEY = "integration-session-key-0123456789abcdefgh"


@dataclass(frozen=True)
class RunningStack:
    rasa_url: str
    actions_url: str
    handoff_url: str
    token: str
    handoff_token: str
    # Everything the launcher printed so far (its children's lines are prefixed with their name).
    output: list[str]
    # Where the stack keeps its databases (tracker.db, handoff.db, store.db, outbox.db).
    var_dir: Path
    # The Twilio the stack talks to (call-backs, SMS and WhatsApp replies); twilio.fake records it all.
    twilio: FakeTwilioThread
    # The action server's Prometheus metrics (its own loopback port; the handoff service's: /metrics).
    actions_metrics_url: str
    # The launcher itself (the supervisor of the three children).
    launcher: "subprocess.Popen[str]"
    # ATTUNE_IDENTITY_KEY: what a site signs identity tokens with (handoff.shared.identity_tokens).
    identity_key: str = IDENTITY_KEY
    # ATTUNE_SESSION_KEY: what the Rasa server signs web chat session ids with.
    session_key: str = SESSION_KEY

    def pid_of(self, name: str) -> int:
        """The pid of the launcher's child ``name`` (rasa, actions, handoff) as it runs now."""
        return int((self.var_dir / "run" / f"{name}.pid").read_text().strip())

    def wait_for_output(self, text: str, since: int = 0, timeout: float = 120.0) -> bool:
        """Whether ``text`` appears in a line printed after line ``since`` within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.output[since:]):
                return True
            time.sleep(0.2)
        return False


def trained_model() -> Path:
    model = Path(os.environ.get("ATTUNE_TEST_MODEL", ROOT / "models" / "attune.tar.gz"))
    if not model.is_file():
        reason = f"no trained model at {model}: run `make pytest` (it trains first) or set ATTUNE_TEST_MODEL"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return model.resolve()


def _callback_hours(var_dir: Path) -> Path:
    """Call-backs can be had "now" whenever the tests run (the shipped hours close at night)."""
    hours = var_dir / "callbacks.yml"
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    hours.write_text(
        "version: '1'\ntimezone: Europe/London\nquiet_hours: null\nwindow_minutes: 60\n"
        "windows_offered: 1\ndefault_region: GB\nbusiness_hours:\n"
        + "".join(f"  {day}: '00:00-24:00'\n" for day in days)
    )
    return hours


def stack_env(var_dir: Path, ports: Mapping[str, int], twilio: FakeTwilioThread) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE_")}
    env["ATTUNE_RASA_TOKEN"] = RASA_TOKEN
    env["ATTUNE_HANDOFF_API_TOKEN"] = HANDOFF_TOKEN
    env["ATTUNE_DEMO_PASSWORD"] = DEMO_PASSWORD
    env["ATTUNE_IDENTITY_KEY"] = IDENTITY_KEY
    env["ATTUNE_SESSION_KEY"] = SESSION_KEY
    # Twilio is the loopback fake: call-backs are placed and SMS/WhatsApp replies sent to it, and it
    # signs what it sends back for the public URLs below.
    env["TWILIO_ACCOUNT_SID"] = ACCOUNT_SID
    env["TWILIO_AUTH_TOKEN"] = AUTH_TOKEN
    env["TWILIO_FROM_NUMBER"] = TWILIO_NUMBER
    env["TWILIO_WHATSAPP_NUMBER"] = ""
    env["ATTUNE_TWILIO_API_BASE"] = twilio.base_url
    env["ATTUNE_PUBLIC_URL"] = f"http://127.0.0.1:{ports['handoff']}"
    env["ATTUNE_PUBLIC_RASA_URL"] = f"http://127.0.0.1:{ports['rasa']}"
    env["ATTUNE_CALLBACK_RETRY_SECONDS"] = "2"
    env["ATTUNE_CALLBACK_HOURS"] = str(_callback_hours(var_dir))
    # Every test customer comes from 127.0.0.1: the per-address self-service limits would count the
    # whole suite as one client (the per-conversation limits stay as shipped; tests/actions checks both).
    env["ATTUNE_SELF_SERVICE_LOOKUPS_PER_ADDRESS"] = "1000000"
    env["ATTUNE_SELF_SERVICE_FAILED_CHECKS_PER_ADDRESS"] = "1000000"
    return env


@contextlib.contextmanager
def start_stack(
    var_dir: Path, twilio: FakeTwilioThread, extra_env: Mapping[str, str] | None = None
) -> Iterator[RunningStack]:
    """Runs ``python -m bot.launcher`` until the block ends, then stops it with Ctrl-C (exit 0)."""
    model = trained_model()
    ports = {"rasa": free_port(), "actions": free_port(), "handoff": free_port(), "metrics": free_port()}
    env = {**stack_env(var_dir, ports, twilio), **(extra_env or {})}
    command = [
        sys.executable, "-m", "bot.launcher",
        "--rasa-port", str(ports["rasa"]),
        "--actions-port", str(ports["actions"]),
        "--handoff-port", str(ports["handoff"]),
        "--actions-metrics-port", str(ports["metrics"]),
        "--model", str(model),
        "--var-dir", str(var_dir),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or process.poll() is not None:
            process.kill()
            pytest.fail("the stack did not start:\n" + "".join(output[-60:]))
        try:
            if "Attune is running" in lines.get(timeout=min(remaining, 1.0)):
                break
        except queue.Empty:
            continue

    running = RunningStack(
        rasa_url=f"http://127.0.0.1:{ports['rasa']}",
        actions_url=f"http://127.0.0.1:{ports['actions']}",
        handoff_url=f"http://127.0.0.1:{ports['handoff']}",
        token=RASA_TOKEN,
        handoff_token=HANDOFF_TOKEN,
        output=output,
        var_dir=var_dir,
        twilio=twilio,
        actions_metrics_url=f"http://127.0.0.1:{ports['metrics']}/metrics",
        launcher=process,
        identity_key=env["ATTUNE_IDENTITY_KEY"],
        session_key=env["ATTUNE_SESSION_KEY"],
    )
    try:
        yield running
    except BaseException:
        # The test body failed: stop the stack anyway (no orphaned servers holding ports and CPU for
        # the rest of the run), and let the test's own error be the one reported.
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)
        raise

    # Ctrl-C, as a person would press it: all three must stop and the launcher exit 0.
    process.send_signal(signal.SIGINT)
    try:
        code = process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"the launcher did not stop within {STOP_TIMEOUT:.0f} s of Ctrl-C")
    assert code == 0, "".join(output[-40:])
