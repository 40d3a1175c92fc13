"""Starts the whole stack through the README's run path (bot.launcher) on free loopback ports."""

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, TWILIO_NUMBER, FakeTwilioThread

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 420.0
DEMO_PASSWORD = "integration-demo-password"


@dataclass(frozen=True)
class RunningStack:
    rasa_url: str
    actions_url: str
    handoff_url: str
    token: str
    handoff_token: str
    output: list[str]
    # Where the stack keeps its databases (tracker.db, handoff.db, store.db, outbox.db).
    var_dir: Path
    # The Twilio the stack talks to (call-backs, SMS and WhatsApp replies); twilio.fake records it all.
    twilio: FakeTwilioThread
    # The action server's Prometheus metrics (its own loopback port; the handoff service's: /metrics).
    actions_metrics_url: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def trained_model() -> Path:
    model = Path(os.environ.get("ATTUNE_TEST_MODEL", ROOT / "models" / "attune.tar.gz"))
    if not model.is_file():
        reason = f"no trained model at {model}: run `make pytest` (it trains first) or set ATTUNE_TEST_MODEL"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return model.resolve()


@pytest.fixture(scope="package")
def twilio() -> Iterator[FakeTwilioThread]:
    with FakeTwilioThread() as fake:
        yield fake


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory, twilio: FakeTwilioThread) -> Iterator[RunningStack]:
    model = trained_model()
    ports = {"rasa": free_port(), "actions": free_port(), "handoff": free_port(), "metrics": free_port()}
    var_dir = tmp_path_factory.mktemp("var")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE_")}
    env["ATTUNE_RASA_TOKEN"] = token = "integration-test-token"
    env["ATTUNE_HANDOFF_API_TOKEN"] = handoff_token = "integration-handoff-token"
    env["ATTUNE_DEMO_PASSWORD"] = DEMO_PASSWORD
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
    # Call-backs can be had "now" whenever the tests run (the shipped hours close at night).
    hours = var_dir / "callbacks.yml"
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    hours.write_text(
        "version: '1'\ntimezone: Europe/London\nquiet_hours: null\nwindow_minutes: 60\n"
        "windows_offered: 1\ndefault_region: GB\nbusiness_hours:\n"
        + "".join(f"  {day}: '00:00-24:00'\n" for day in days)
    )
    env["ATTUNE_CALLBACK_HOURS"] = str(hours)
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

    yield RunningStack(
        rasa_url=f"http://127.0.0.1:{ports['rasa']}",
        actions_url=f"http://127.0.0.1:{ports['actions']}",
        handoff_url=f"http://127.0.0.1:{ports['handoff']}",
        token=token,
        handoff_token=handoff_token,
        output=output,
        var_dir=var_dir,
        twilio=twilio,
        actions_metrics_url=f"http://127.0.0.1:{ports['metrics']}/metrics",
    )

    # Ctrl-C, as a person would press it: all three must stop and the launcher exit 0.
    process.send_signal(signal.SIGINT)
    try:
        code = process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("the launcher did not stop within 60 s of Ctrl-C")
    assert code == 0, "".join(output[-40:])
