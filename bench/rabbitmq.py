"""A private RabbitMQ for a benchmark: Debian's server (``make datastores``) as a node of its own (name,
cookie, epmd, data dir in a temp dir) on free loopback ports, stopped and removed afterwards.

The same recipe as tests/support/datastores.py (which is pytest's: it skips or fails a test), kept
small here so a benchmark does not import the test suite.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq account; this one runs as ourselves.
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
# A fresh AMQP 0-9-1 server answers the protocol header with a method frame (Connection.Start).
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
AMQP_METHOD_FRAME = 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(AMQP_HEADER)
            return sock.recv(1)[:1] == bytes([AMQP_METHOD_FRAME])
    except OSError:
        return False


def _wait(server: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not _answers(port):
        if server.poll() is not None:
            raise RuntimeError(f"RabbitMQ exited with code {server.returncode} while starting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"RabbitMQ did not answer within {READY_TIMEOUT_SECONDS:.0f} s")
        time.sleep(0.2)


def _spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """In its own process group, so that stopping it reaches beam.smp too."""
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group (the script and beam.smp), SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def private_rabbitmq() -> Iterator[str]:
    """Yields the AMQP URL (user ``guest``) of a fresh node; stops it and its epmd and removes it after."""
    if not (Path(RABBITMQ_SERVER).exists() and shutil.which("epmd")):
        raise SystemExit("rabbitmq-server not installed: `make datastores` installs Debian's package")
    work = Path(tempfile.mkdtemp(prefix="attune-bench-rabbitmq-"))
    port, epmd_port = _free_port(), _free_port()
    (work / "enabled_plugins").write_text("[].\n")
    (work / "rabbitmq-env.conf").write_text("")
    (work / "rabbitmq.conf").write_text("disk_free_limit.absolute = 10MB\n")
    env = {
        **os.environ,
        "HOME": str(work),  # the Erlang cookie
        "ERL_EPMD_PORT": str(epmd_port),
        "RABBITMQ_NODENAME": f"attune-bench-{work.name.rsplit('-', 1)[-1].lower()}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(_free_port()),
        "RABBITMQ_MNESIA_BASE": str(work / "mnesia"),
        "RABBITMQ_LOG_BASE": str(work / "log"),
        "RABBITMQ_PID_FILE": str(work / "rabbitmq.pid"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(work / "enabled_plugins"),
        "RABBITMQ_CONF_ENV_FILE": str(work / "rabbitmq-env.conf"),
        "RABBITMQ_CONFIG_FILE": str(work / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(work / "advanced.config"),
    }
    started: list[subprocess.Popen[bytes]] = []
    try:
        # Our own epmd in the foreground, so that it stops with us (the node would daemonise one).
        started.append(_spawn(["epmd", "-port", str(epmd_port), "-address", "127.0.0.1"], env))
        started.append(_spawn([RABBITMQ_SERVER], env))
        _wait(started[-1], port)
        yield f"amqp://guest:guest@127.0.0.1:{port}/"
    finally:
        for process in reversed(started):
            _stop(process)
        shutil.rmtree(work, ignore_errors=True)
