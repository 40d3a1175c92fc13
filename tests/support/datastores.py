"""A throwaway PostgreSQL, Redis and RabbitMQ from Debian's packages, on free loopback ports, in temp dirs.

Each runs in the foreground in its own bot.launcher ``Stack``, stopped (SIGTERM, then SIGKILL after
a grace period) when its ``with`` block ends, failure or not.  PostgreSQL refuses to run as root:
when we are root, initdb and the server run as the ``postgres`` account (the Debian package
creates it; ``nobody`` otherwise).  Nothing is kept: fsync off, Redis without RDB or AOF, and the
data directories are removed afterwards.  RabbitMQ is a private node (its own name, cookie, epmd
and data dir) that a test can kill -9 and start again on the same data: durable queues survive.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest
import redis

from bot.launcher import Service, Stack
from tests.support.ports import free_port

READY_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str = "postgres"
    host: str = "127.0.0.1"

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def create_databases(self, *names: str) -> None:
        connection = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname="postgres")
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                for name in names:
                    cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()


def postgres_bin(name: str) -> str | None:
    """``name`` from the newest /usr/lib/postgresql/<version>/bin, else from PATH."""
    versions = [p for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}") if p.parts[-3].isdigit()]
    newest = max(versions, key=lambda p: int(p.parts[-3]), default=None)
    return str(newest) if newest else shutil.which(name)


def require_servers() -> None:
    """Skips the test when PostgreSQL or Redis is not installed; fails instead on CI."""
    missing = [name for name in ("initdb", "postgres") if postgres_bin(name) is None]
    missing += [] if shutil.which("redis-server") else ["redis-server"]
    if missing:
        reason = f"{', '.join(missing)} not installed: `make datastores` installs Debian's packages"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def _service_account() -> str | None:
    """Whom PostgreSQL runs as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    raise RuntimeError("running as root and there is no postgres (or nobody) account to run PostgreSQL as")


def _as(account: str | None) -> list[str]:
    # setpriv execs (no extra parent process), so stopping the Stack signals PostgreSQL itself.
    if account is None:
        return []
    return ["setpriv", f"--reuid={account}", f"--regid={account}", "--init-groups", "--"]


def _wait(what: str, ready: Callable[[], object], stack: Stack, name: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    process = stack.processes[name]
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} while starting")
        try:
            ready()
            return
        except (psycopg2.OperationalError, redis.exceptions.ConnectionError) as error:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer within {READY_TIMEOUT_SECONDS:.0f} s") from error
        time.sleep(0.2)


@contextmanager
def postgres(port: int) -> Iterator[Postgres]:
    """Initialises a cluster in a fresh temp dir and runs it; stops it and removes the dir after."""
    account = _service_account()
    stack = Stack(dict(os.environ))
    # Not under pytest's tmp dirs: those are 0700 root's, and the server runs as another account.
    data = Path(tempfile.mkdtemp(prefix="attune-pg-"))
    try:
        if account is not None:
            shutil.chown(data, account, account)
        subprocess.run(
            [*_as(account), str(postgres_bin("initdb")), "-D", str(data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(data),
            "max_connections": "200",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        command = [*_as(account), str(postgres_bin("postgres")), "-D", str(data), "-p", str(port), *options]
        stack.start(Service("pg", command, ready_url=""))
        found = Postgres(port)
        _wait(
            "PostgreSQL",
            lambda: psycopg2.connect(host=found.host, port=port, user=found.user, dbname="postgres").close(),
            stack,
            "pg",
        )
        yield found
    finally:
        stack.stop()
        shutil.rmtree(data, ignore_errors=True)


@contextmanager
def redis_server(port: int) -> Iterator[int]:
    """A Redis on ``port`` with no persistence; stopped after."""
    stack = Stack(dict(os.environ))
    work = Path(tempfile.mkdtemp(prefix="attune-redis-"))
    try:
        command = [
            "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(work), "--daemonize", "no", "--loglevel", "warning",
        ]  # fmt: skip
        stack.start(Service("redis", command, ready_url=""))
        _wait("Redis", lambda: _ping(port), stack, "redis")
        yield port
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)


def _ping(port: int) -> None:
    with redis.Redis(host="127.0.0.1", port=port, socket_timeout=2) as client:
        client.ping()


# Debian's rabbitmq-server script (/usr/sbin) switches to the rabbitmq account and its /var/lib
# node; this one runs the node as ourselves, with everything it reads and writes in a temp dir.
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
RABBITMQ_SERVICE = "rabbitmq"
# What a fresh AMQP 0-9-1 server answers the protocol header with: a method frame (Connection.Start).
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
AMQP_METHOD_FRAME = 1


def require_rabbitmq() -> None:
    """Skips the test when RabbitMQ is not installed; fails instead on CI."""
    if not (Path(RABBITMQ_SERVER).exists() and shutil.which("epmd")):
        reason = "rabbitmq-server not installed: `make datastores` installs Debian's package"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@dataclass
class RabbitMQ:
    """A running private node; ``kill9`` and ``restart`` keep its data dir, name and ports."""

    port: int
    stack: Stack
    user: str = "guest"
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"amqp://{self.user}:{self.user}@{self.host}:{self.port}/"

    def kill9(self) -> None:
        """SIGKILL to the node's process group (the script and beam.smp): no shutdown, no flush."""
        process = self.stack.processes[RABBITMQ_SERVICE]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def restart(self) -> float:
        """Starts the node again on the same data; the seconds until it answered AMQP."""
        began = time.monotonic()
        self.stack.restart(RABBITMQ_SERVICE)
        _wait_amqp(self.stack, self.port)
        return time.monotonic() - began


@contextmanager
def rabbitmq(port: int) -> Iterator[RabbitMQ]:
    """A RabbitMQ node on ``port`` with its own epmd; stopped, with its epmd, and removed after.

    The user is RabbitMQ's default ``guest`` (allowed from loopback only), no plugins are enabled,
    and no file under /etc/rabbitmq is read.
    """
    stack = Stack(dict(os.environ))
    work = Path(tempfile.mkdtemp(prefix="attune-rabbitmq-"))
    try:
        epmd_port = free_port()
        (work / "enabled_plugins").write_text("[].\n")
        (work / "rabbitmq-env.conf").write_text("")
        (work / "rabbitmq.conf").write_text("disk_free_limit.absolute = 10MB\n")
        env = {
            "HOME": str(work),  # the Erlang cookie
            "ERL_EPMD_PORT": str(epmd_port),
            "RABBITMQ_NODENAME": f"attune-{work.name.rsplit('-', 1)[-1].lower()}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(work / "mnesia"),
            "RABBITMQ_LOG_BASE": str(work / "log"),
            "RABBITMQ_PID_FILE": str(work / "rabbitmq.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(work / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(work / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(work / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(work / "advanced.config"),
        }
        # Our own epmd in the foreground, so stopping the Stack stops it (the node would otherwise
        # start a daemonised one that outlives the test).
        stack.start(Service("epmd", ["epmd", "-port", str(epmd_port), "-address", "127.0.0.1"], "", env))
        stack.start(Service(RABBITMQ_SERVICE, [RABBITMQ_SERVER], ready_url="", env=env))
        _wait_amqp(stack, port)
        yield RabbitMQ(port, stack)
    finally:
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)


def _wait_amqp(stack: Stack, port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    process = stack.processes[RABBITMQ_SERVICE]
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"RabbitMQ exited with code {process.returncode} while starting")
        try:
            _amqp_answers(port)
            return
        except OSError as error:
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ did not answer within {READY_TIMEOUT_SECONDS:.0f} s") from error
        time.sleep(0.1)


def _amqp_answers(port: int) -> None:
    """Raises ConnectionError until the node answers the AMQP protocol header with Connection.Start."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(AMQP_HEADER)
        frame = sock.recv(1)
    if frame[:1] != bytes([AMQP_METHOD_FRAME]):
        raise ConnectionError(f"no AMQP on port {port} yet")
