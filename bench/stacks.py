"""The systems under test, started on free loopback ports and stopped again.

Attune runs exactly as ``make run`` does (``python -m bot.launcher``, ready at "Attune is
running"); the plain Rasa assistant (bench/plain_rasa.py) is ``rasa run`` plus an action server
with only the store actions.  Both keep conversations in a SQLite tracker store, as Attune's
endpoints.yml does, so the comparison is about the assistant, not the storage.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bench.plain_rasa import STORE_ACTIONS_MODULE
from bench.procstats import Tracked, descendants

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status < 500)
    except (urllib.error.URLError, OSError):
        return False


# The bench's customers sign in as the demo customer (bench/load.py): the stack checks their token.
BENCH_IDENTITY_KEY = "bench-identity-key-0123456789abcdefghij"
# Every simulated customer chats from 127.0.0.1: the per-address self-service limits
# (actions/settings.py) would throttle the load itself.
UNLIMITED = "1000000"


def base_env(var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE_")}
    env.update(
        {
            "ATTUNE_STORE_DATABASE_URL": f"sqlite:///{var_dir / 'store.db'}",
            "ATTUNE_OUTBOX_DATABASE_URL": f"sqlite:///{var_dir / 'outbox.db'}",
            "ATTUNE_HANDOFF_DATABASE_URL": f"sqlite:///{var_dir / 'handoff.db'}",
            "ATTUNE_DEMO_PASSWORD": "bench-demo-password",
            # Fixed, so a random token starting with "-" never reaches `rasa run --auth-token` as a flag.
            "ATTUNE_RASA_TOKEN": "bench-rasa-token-0123456789",
            "ATTUNE_HANDOFF_API_TOKEN": "bench-handoff-token-0123456789",
            "ATTUNE_LOG_LEVEL": "WARNING",
            "ATTUNE_IDENTITY_KEY": BENCH_IDENTITY_KEY,
            "ATTUNE_SELF_SERVICE_LOOKUPS_PER_ADDRESS": UNLIMITED,
            "ATTUNE_SELF_SERVICE_FAILED_CHECKS_PER_ADDRESS": UNLIMITED,
            "SANIC_HOST": "127.0.0.1",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "RASA_TELEMETRY_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM_NUMBER", "TWILIO_WHATSAPP_NUMBER"):
        env[name] = ""
    env["ATTUNE_TWILIO_API_BASE"] = ""
    return env


@dataclass
class System:
    """A running assistant: where to send messages, and its processes by service name."""

    name: str
    url: str
    # Answering these means ready (plain Rasa); Attune's launcher says so itself.
    health_urls: list[str] = field(default_factory=list)
    processes: dict[str, subprocess.Popen[str]] = field(default_factory=dict)
    output: deque[str] = field(default_factory=lambda: deque(maxlen=200))

    def _pump(self, name: str, process: subprocess.Popen[str], ready: threading.Event | None) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.output.append(f"[{name}] {line}")
            if ready is not None and "Attune is running" in line:
                ready.set()

    def start(
        self, name: str, command: list[str], env: dict[str, str], marker: bool = False
    ) -> threading.Event:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self.processes[name] = process
        ready = threading.Event()
        threading.Thread(
            target=self._pump, args=(name, process, ready if marker else None), daemon=True
        ).start()
        return ready

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                tail = "".join(list(self.output)[-40:])
                raise RuntimeError(f"{self.name}: {name} exited with code {process.returncode}\n{tail}")

    def tracked(self) -> list[Tracked]:
        """Each service process (the launcher's children for Attune), named by what it runs."""
        found = []
        for name, process in self.processes.items():
            if name != "launcher":
                found.append(Tracked(name, process.pid))
                continue
            for pid in descendants(process.pid)[1:]:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                for service, needle in (
                    ("rasa", " run "),
                    ("actions", "actions.server"),
                    ("handoff", "-m handoff"),
                ):
                    if needle in cmdline and not any(t.name == service for t in found):
                        found.append(Tracked(service, pid))
        return found

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.processes.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _launcher_has(flag: str) -> bool:
    usage = subprocess.run(
        [sys.executable, "-m", "bot.launcher", "--help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return flag in usage


def start_attune(
    model: Path, var_dir: Path, extra_env: Mapping[str, str] | None = None, broker: bool = True
) -> tuple[System, threading.Event]:
    """``extra_env`` adds to or overrides base_env (bench/growth.py raises the per-conversation limits);
    ``broker=False`` runs it without the event broker (bench/launch_without_broker.py).
    """
    rasa, actions, handoff = free_port(), free_port(), free_port()
    system = System("attune", f"http://127.0.0.1:{rasa}")
    launcher = "bot.launcher" if broker else "bench.launch_without_broker"
    command = [
        sys.executable, "-m", launcher, "--model", str(model), "--var-dir", str(var_dir),
        "--rasa-port", str(rasa), "--actions-port", str(actions), "--handoff-port", str(handoff),
    ]  # fmt: skip
    if _launcher_has("--actions-metrics-port"):
        # Metrics stay on, as in `make run`, on a free port rather than the fixed default.
        command += ["--actions-metrics-port", str(free_port())]
    env = {**base_env(var_dir), **(extra_env or {})}
    return system, system.start("launcher", command, env, marker=True)


def start_plain(model: Path, var_dir: Path, extra_env: Mapping[str, str] | None = None) -> System:
    rasa, actions = free_port(), free_port()
    endpoints = {
        "action_endpoint": {"url": f"http://127.0.0.1:{actions}/webhook"},
        "tracker_store": {"type": "SQL", "dialect": "sqlite", "db": str(var_dir / "tracker.db")},
    }
    (var_dir / "endpoints.yml").write_text(yaml.safe_dump(endpoints))
    (var_dir / "credentials.yml").write_text("rest:\n")
    env = {**base_env(var_dir), **(extra_env or {})}
    system = System("plain", f"http://127.0.0.1:{rasa}")
    system.health_urls = [f"{system.url}/", f"http://127.0.0.1:{actions}/health"]
    bin_dir = Path(sys.executable).parent
    system.start(
        "actions",
        [sys.executable, "-m", "rasa_sdk", "--actions", STORE_ACTIONS_MODULE, "--port", str(actions)],
        env,
    )
    system.start(
        "rasa",
        [
            str(bin_dir / "rasa"), "run", "--interface", "127.0.0.1", "--port", str(rasa),
            "--model", str(model), "--endpoints", str(var_dir / "endpoints.yml"),
            "--credentials", str(var_dir / "credentials.yml"),
        ],
        env,
    )  # fmt: skip
    return system


def wait_ready(system: System, timeout: float, ready: threading.Event | None = None) -> None:
    """Until the launcher says so (Attune) or both servers answer (plain)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        system.check_alive()
        if ready is not None:
            if ready.wait(0.5):
                return
            continue
        if all(_answers(url) for url in system.health_urls):
            return
        time.sleep(0.5)
    raise RuntimeError(
        f"{system.name} did not start within {timeout:.0f} s\n" + "".join(list(system.output)[-40:])
    )
