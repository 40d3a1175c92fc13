"""Runs the whole assistant in one terminal: Rasa server, action server and handoff service.

``python -m bot.launcher`` (what ``make run`` calls) starts the three processes on 127.0.0.1,
prefixes their output, waits until each answers, prints where to talk to the bot, restarts a
child that dies while the others keep serving (bot/supervisor.py), and on Ctrl-C stops all three.
Each child's pid is kept in ``<var-dir>/run/<name>.pid``.  No Rasa here (import-linter checks it):
this module must not drag Rasa into the launcher process.

Secrets and origins every child must agree on (handoff/shared/identity_tokens.py), exported to all three:

- ATTUNE_SESSION_KEY signs web chat session ids; when unset, a random one is created once in
  ``<var-dir>/session.key`` (mode 0600) and reused, so sessions survive a restart.
- ATTUNE_IDENTITY_KEY verifies the identity tokens a site signs; when unset, a demo key is created
  in ``<var-dir>/identity-demo.key`` and the banner prints a 24 h token for the demo customer
  C-1001, and the handoff service's web chat page offers to sign in as them
  (ATTUNE_DEMO_SIGN_IN=1).  Set it (empty: every customer is anonymous) to turn the demo off.
- ATTUNE_CORS_ORIGINS (space-separated) are the only browser origins Rasa's HTTP API and web chat
  socket answer; default the web chat page's own, the handoff service on 127.0.0.1 and localhost.
  Never ``*``: Rasa's CORS sends credentials, so ``*`` let any site act with a visitor's cookies.
"""

import argparse
import contextlib
import ctypes
import dataclasses
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

import yaml

from bot.conversation_id_migration import migrate_conversation_ids
from bot.supervisor import CrashLoop, Supervisor
from handoff.shared.identity_tokens import sign_identity_token

# The demo customer the banner prints a token for (and the web chat page signs in as).
DEMO_CUSTOMER: Final = {"id": "C-1001", "phone": "+447700900001", "email": "dana@example.com"}
DEMO_TOKEN_SECONDS = 24 * 3600
KEY_BYTES = 48  # 64 characters of base64url: well over the 32 the keys need

ROOT = Path(__file__).resolve().parent.parent
STOP_GRACE_SECONDS = 15.0
# Run after a restart of Rasa: the analytics events its predecessor still had queued, from the
# tracker store (`attune analytics backfill`; "broker": from 10 minutes before the broker's last event).
RASA_BACKFILL: Final = (sys.executable, "-m", "bot.cli", "analytics", "backfill", "--since", "broker")
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# The ${VAR}s of credentials.yml (the SMS and WhatsApp channel, bot/components/twilio_channel.py).
TWILIO_CHANNEL_VARIABLES = (
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM_NUMBER",
    "TWILIO_WHATSAPP_NUMBER",
    "ATTUNE_TWILIO_API_BASE",
)


@dataclass(frozen=True)
class Service:
    name: str
    command: list[str]
    ready_url: str
    # Variables of this process only, over the Stack's environment (e.g. one instance's outbox).
    env: Mapping[str, str] = field(default_factory=dict)
    # A one-off command started (not awaited) each time the supervisor restarts this service.
    after_restart: Sequence[str] = ()


@dataclass(frozen=True)
class Ports:
    rasa: int
    actions: int
    handoff: int
    # The action server's Prometheus metrics (127.0.0.1 only; actions/metrics.py); None: not served.
    actions_metrics: int | None = None


def _bin(name: str) -> str:
    """A console script of the interpreter running us (the project's venv)."""
    return str(Path(sys.executable).parent / name)


def write_endpoints(var_dir: Path, ports: Ports, sections: Mapping[str, Any] | None = None) -> Path:
    """endpoints.yml with this run's action-server port and tracker-store file.

    ``sections`` replace or add whole top-level sections (several instances: ``tracker_store`` on
    Postgres, ``lock_store`` on Redis; see tests/scale/).
    """
    config = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    config["action_endpoint"]["url"] = f"http://127.0.0.1:{ports.actions}/webhook"
    config["tracker_store"]["db"] = str(var_dir / "tracker.db")
    # Rasa's SQL broker or ours (bot/components/event_broker.py): both keep a SQLite file in `db`.
    if (config.get("event_broker") or {}).get("dialect") == "sqlite":
        config["event_broker"]["db"] = str(var_dir / "events.db")
    config.update(sections or {})
    path = var_dir / "endpoints.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def handoff_service(port: int) -> Service:
    """The handoff service; it reads its port from ATTUNE_HANDOFF_PORT (child_env)."""
    return Service("handoff", [sys.executable, "-m", "handoff"], f"http://127.0.0.1:{port}/healthz")


def actions_service(port: int, name: str = "actions", env: Mapping[str, str] | None = None) -> Service:
    return Service(
        name,
        # rasa-sdk's server with the outbox and audit senders running from start-up (actions/server.py).
        [sys.executable, "-m", "actions.server", "--port", str(port)],
        f"http://127.0.0.1:{port}/health",
        env or {},
    )


def rasa_service(
    port: int,
    model: Path,
    endpoints: Path,
    token: str,
    name: str = "rasa",
    cors: Sequence[str] = (),
) -> Service:
    """Rasa with its HTTP API; browsers may call it only from the ``cors`` origins (none: no CORS)."""
    return Service(
        name,
        [
            _bin("rasa"), "run",
            "--interface", "127.0.0.1",
            "--port", str(port),
            "--model", str(model),
            "--endpoints", str(endpoints),
            "--credentials", str(ROOT / "credentials.yml"),
            "--enable-api", f"--auth-token={token}",  # "=": a token may start with "-"
            "--cors", *cors,
        ],
        f"http://127.0.0.1:{port}/",
    )  # fmt: skip


def services(ports: Ports, var_dir: Path, model: Path, token: str, cors: Sequence[str] = ()) -> list[Service]:
    endpoints = write_endpoints(var_dir, ports)
    metrics = {"ATTUNE_ACTIONS_METRICS_PORT": str(ports.actions_metrics)} if ports.actions_metrics else {}
    rasa = rasa_service(ports.rasa, model, endpoints, token, cors=cors)
    return [
        handoff_service(ports.handoff),
        actions_service(ports.actions, env=metrics),
        # A Rasa that died took the events its event broker still had queued (a linger's worth, more
        # while the broker's database was failing); the tracker store has them, so its replacement's
        # start is followed by a backfill from just before the broker's last event (docs/analytics.md).
        dataclasses.replace(rasa, after_restart=RASA_BACKFILL),
    ]


def default_cors_origins(handoff_port: int) -> str:
    """The web chat page's origins: the handoff service, under both loopback names."""
    return f"http://127.0.0.1:{handoff_port} http://localhost:{handoff_port}"


def key_file(path: Path) -> str:
    """The key kept in ``path``, created once (random, mode 0600) when there is none."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    key = secrets.token_urlsafe(KEY_BYTES)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    return key


def demo_token(env: Mapping[str, str]) -> str | None:
    """A 24 h identity token for the demo customer, when this run made the demo key."""
    if env.get("ATTUNE_DEMO_SIGN_IN") != "1" or not env.get("ATTUNE_IDENTITY_KEY"):
        return None
    return sign_identity_token(
        DEMO_CUSTOMER["id"],
        env["ATTUNE_IDENTITY_KEY"],
        phone=DEMO_CUSTOMER["phone"],
        email=DEMO_CUSTOMER["email"],
        lifetime=DEMO_TOKEN_SECONDS,
    )


def child_env(
    ports: Ports, var_dir: Path, token: str, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The children's environment: ``base`` (default: ours) with this run's addresses and defaults."""
    env = dict(os.environ if base is None else base)
    env.setdefault("ATTUNE_STORE_DATABASE_URL", f"sqlite:///{var_dir / 'store.db'}")
    env.setdefault("ATTUNE_HANDOFF_DATABASE_URL", f"sqlite:///{var_dir / 'handoff.db'}")
    env.setdefault("ATTUNE_OUTBOX_DATABASE_URL", f"sqlite:///{var_dir / 'outbox.db'}")
    # Rasa's tracker store (endpoints.yml, written below): retention and erasure reach it too.
    env.setdefault("ATTUNE_TRACKER_DATABASE_URL", f"sqlite:///{var_dir / 'tracker.db'}")
    # Rasa's SQL event broker (endpoints.yml, written below): the analytics consumer reads it.
    env.setdefault("ATTUNE_EVENT_BROKER_URL", f"sqlite:///{var_dir / 'events.db'}")
    env["ATTUNE_HANDOFF_PORT"] = str(ports.handoff)
    env["ATTUNE_HANDOFF_URL"] = f"http://127.0.0.1:{ports.handoff}"
    # One random secret per run shared by the action server and the handoff API, unless set.
    env.setdefault("ATTUNE_HANDOFF_API_TOKEN", secrets.token_urlsafe(24))
    env["ATTUNE_RASA_URL"] = f"http://127.0.0.1:{ports.rasa}"
    env["ATTUNE_RASA_TOKEN"] = token
    # Web chat session ids are signed with it; kept in var/ so sessions survive a restart.
    if not env.get("ATTUNE_SESSION_KEY"):
        env["ATTUNE_SESSION_KEY"] = key_file(var_dir / "session.key")
    # Unset (not empty): the demo identity key, and the web chat page's "sign in as the demo customer".
    if "ATTUNE_IDENTITY_KEY" not in env:
        env["ATTUNE_IDENTITY_KEY"] = key_file(var_dir / "identity-demo.key")
        env["ATTUNE_DEMO_SIGN_IN"] = "1"
    env.setdefault("ATTUNE_CORS_ORIGINS", default_cors_origins(ports.handoff))
    # rasa-sdk has no --interface flag; it reads the bind address from here (default 0.0.0.0).
    env["SANIC_HOST"] = "127.0.0.1"
    # credentials.yml reads these with ${VAR} and Rasa refuses to start when one is unset; empty
    # leaves SMS/WhatsApp unconfigured (its webhook answers 503 naming what to set).
    for name in TWILIO_CHANNEL_VARIABLES:
        env.setdefault(name, "")
    # Where Twilio and browsers reach Rasa; Twilio's signatures are checked against it.
    env.setdefault("ATTUNE_PUBLIC_RASA_URL", f"http://127.0.0.1:{ports.rasa}")
    # The sentence encoder must never reach for the Hugging Face hub.
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    env.setdefault("RASA_TELEMETRY_ENABLED", "false")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


# What the handoff service prints when it creates the demo accounts (handoff/app.py, first run only).
LOGIN_LINE: Final = "console account created: "


class Logins:
    """The demo logins the handoff service printed, kept so the banner can repeat them below Rasa's output."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.lines: list[str] = []

    def read(self, line: str) -> None:
        if line.startswith(LOGIN_LINE):
            with self._lock:
                self.lines.append(line[len(LOGIN_LINE) :].strip())


def _pump(name: str, stream: IO[str] | None, logins: Logins | None = None) -> None:
    if stream is None:
        return
    for line in stream:
        if logins is not None:
            logins.read(line)
        sys.stdout.write(f"[{name:>7}] {line}")
        sys.stdout.flush()


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the launcher dies, even by SIGKILL (Linux only).

    Without it a launcher killed outright leaves its children serving with nobody supervising
    them, holding their ports, so the next ``make run`` cannot start.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _log(line: str) -> None:
    print(f"[{'launch':>7}] {line}", flush=True)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status < 500)
    except (urllib.error.URLError, OSError):
        return False


class Stack:
    """The child processes; each in its own process group so Ctrl-C is handled once, by us.

    With ``pid_dir``, each child's current pid is written to ``<pid_dir>/<name>.pid``.
    """

    def __init__(self, env: dict[str, str], pid_dir: Path | None = None) -> None:
        self._env = env
        self._pid_dir = pid_dir
        self.services: dict[str, Service] = {}
        self.processes: dict[str, subprocess.Popen[str]] = {}
        # The latest after-restart command of each service (for tests and a clean stop).
        self.after_restart: dict[str, subprocess.Popen[str]] = {}
        self.logins = Logins()

    def start(self, service: Service) -> None:
        process = subprocess.Popen(
            service.command,
            cwd=ROOT,
            env={**self._env, **service.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.services[service.name] = service
        self.processes[service.name] = process
        if self._pid_dir is not None:
            self._pid_dir.mkdir(parents=True, exist_ok=True)
            (self._pid_dir / f"{service.name}.pid").write_text(f"{process.pid}\n")
        threading.Thread(target=_pump, args=(service.name, process.stdout, self.logins), daemon=True).start()

    def restart(self, name: str) -> None:
        """Starts ``name`` again with the command and environment it was first started with, then
        its ``after_restart`` command, if any, beside it (its lines are logged as ``name-after``).
        """
        service = self.services[name]
        self.start(service)
        if service.after_restart:
            process = subprocess.Popen(
                list(service.after_restart),
                cwd=ROOT,
                env={**self._env, **service.env},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
            self.after_restart[name] = process
            threading.Thread(target=_pump, args=(f"{name}-after", process.stdout), daemon=True).start()

    def answers(self, name: str) -> bool:
        return _answers(self.services[name].ready_url)

    def wait_ready(self, service: Service, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        process = self.processes[service.name]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{service.name} exited with code {process.returncode} while starting")
            if _answers(service.ready_url):
                return
            time.sleep(0.5)
        raise RuntimeError(f"{service.name} did not answer on {service.ready_url} within {timeout:.0f} s")

    def stop(self) -> None:
        for process in [*self.processes.values(), *self.after_restart.values()]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in [*self.processes.values(), *self.after_restart.values()]:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def latest_model(models_dir: Path) -> Path:
    models = sorted(models_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise SystemExit(f"error: no trained model in {models_dir}/ - run `make train` first")
    return models[-1]


def _login_lines(ports: Ports, logins: Sequence[str]) -> list[str]:
    console = f"http://127.0.0.1:{ports.handoff}/console"
    if logins:
        return [
            f"  console    {console}  log in as (shown once, only now):",
            *(f"               {login}" for login in logins),
        ]
    return [
        f"  console    {console}  (the demo logins were printed on the first run;",
        "             forgot them? a new password: .venv/bin/attune agents reset admin",
        "             (or agent, supervisor, designer))",
    ]


def banner(
    ports: Ports, token: str | None = None, rasa_token: str | None = None, logins: Sequence[str] = ()
) -> str:
    """What to do next, printed once the three processes answer (below Rasa's start-up output)."""
    rest = f"http://127.0.0.1:{ports.rasa}/webhooks/rest/webhook"
    metrics = []
    if ports.actions_metrics:
        actions_metrics = f"http://127.0.0.1:{ports.actions_metrics}/metrics"
        metrics.append(f"  metrics    {actions_metrics}  (action server)")
    demo = []
    if token:
        customer = DEMO_CUSTOMER
        demo = [
            f"  demo customer {customer['id']} ({customer['phone']}, {customer['email']}),"
            " identity token valid 24 h:",
            f"    {token}",
            f"  signed in   curl -s {rest} -H 'Authorization: Bearer {token}'"
            ' -d \'{"sender": "dana", "message": "where is order 10011"}\'',
        ]
    scores = []
    if rasa_token:
        tracker = f"http://127.0.0.1:{ports.rasa}/conversations/me/tracker?token={rasa_token}"
        scores = [
            f"  scores     curl -s '{tracker}' | python3 -m json.tool | grep -A8 turn_record",
            "             (this run's Rasa API token; why a message scored so: playground, attune explain)",
        ]
    return "\n".join(
        [
            "",
            "Attune is running (Ctrl-C stops all three processes; in the background: make stop):",
            f"  web chat   http://127.0.0.1:{ports.handoff}/chat",
            *_login_lines(ports, logins),
            f"  playground http://127.0.0.1:{ports.handoff}/console/playground  (designer or admin)",
            f'  REST       curl -s {rest} -d \'{{"sender": "me", "message": "where is order 10002"}}\'',
            *scores,
            f"  socket.io  http://127.0.0.1:{ports.rasa}/socket.io  (events user_uttered / bot_uttered)",
            f"  shell      make shell PORT={ports.rasa + 10}",
            f"  actions    http://127.0.0.1:{ports.actions}/health",
            f"  handoff    http://127.0.0.1:{ports.handoff}/healthz",
            f"  metrics    http://127.0.0.1:{ports.handoff}/metrics  (handoff service)",
            *metrics,
            *demo,
            "",
        ]
    )


def _port(text: str) -> int:
    """A TCP port from the command line (make run RASA_PORT=...): 1 to 65535."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, got {text!r}")
    return int(text)


def stop_on_interrupt() -> None:
    """Ctrl-C (SIGINT) raises KeyboardInterrupt even when the launcher inherited SIGINT ignored.

    A shell without job control starts ``make run &`` with SIGINT ignored, and Python then installs no
    handler of its own: ``kill -INT`` did nothing.  This puts Python's handler back.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot.launcher", description=__doc__.splitlines()[0])
    parser.add_argument("--rasa-port", type=_port, default=5005)
    parser.add_argument("--actions-port", type=_port, default=5055)
    parser.add_argument("--handoff-port", type=_port, default=5056)
    parser.add_argument(
        "--actions-metrics-port", type=int, default=9105, help="the action server's /metrics (0: off)"
    )
    parser.add_argument("--model", type=Path, help="model archive (default: the newest in models/)")
    parser.add_argument("--var-dir", type=Path, default=ROOT / "var", help="databases and generated config")
    parser.add_argument("--start-timeout", type=float, default=300.0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    ports = Ports(args.rasa_port, args.actions_port, args.handoff_port, args.actions_metrics_port or None)
    var_dir = args.var_dir.resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    model = args.model or latest_model(ROOT / "models")
    token = os.environ.get("ATTUNE_RASA_TOKEN") or secrets.token_urlsafe(24)
    env = child_env(ports, var_dir, token)
    # Conversations stored before ids were namespaced by channel get their prefix before anything
    # reads them (a no-op once done; bot/conversation_id_migration.py).
    migrated = migrate_conversation_ids(
        env["ATTUNE_TRACKER_DATABASE_URL"],
        env["ATTUNE_STORE_DATABASE_URL"],
        env["ATTUNE_OUTBOX_DATABASE_URL"],
    )
    if migrated.conversations or migrated.contacts or migrated.queued:
        print(f"migrated conversation ids: {migrated}", flush=True)
    stack = Stack(env, pid_dir=var_dir / "run")
    started = time.monotonic()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    stop_on_interrupt()
    # `make stop` (or kill -INT) finds the launcher here, however it was started.
    (var_dir / "run").mkdir(parents=True, exist_ok=True)
    (var_dir / "run" / "launcher.pid").write_text(f"{os.getpid()}\n")
    try:
        plan = services(ports, var_dir, model, token, env["ATTUNE_CORS_ORIGINS"].split())
        for service in plan:
            stack.start(service)
        for service in plan:
            stack.wait_ready(service, args.start_timeout)
        time.sleep(0.3)  # the handoff service's last lines (the demo logins) reach the pump first
        shown = banner(ports, demo_token(env), token, stack.logins.lines)
        print(shown + f"  ready in {time.monotonic() - started:.1f} s\n", flush=True)
        supervisor = Supervisor(stack, [service.name for service in plan], log=_log)
        while not stopping.is_set():
            supervisor.check()
            stopping.wait(0.2)
        return 0
    except KeyboardInterrupt:
        return 0
    except CrashLoop as error:
        print(f"error: {error}; stopping the others", file=sys.stderr, flush=True)
        return 1
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(OSError):  # whoever read our output may be gone (a broken pipe)
            print("stopping...", flush=True)
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
