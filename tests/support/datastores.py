"""A throwaway PostgreSQL and Redis from Debian's packages, on free loopback ports, in temp dirs.

Each runs in the foreground in its own bot.launcher ``Stack``, stopped (SIGTERM, then SIGKILL after
a grace period) when its ``with`` block ends, failure or not.  PostgreSQL refuses to run as root:
when we are root, initdb and the server run as the ``postgres`` account (the Debian package
creates it; ``nobody`` otherwise).  Nothing is kept: fsync off, Redis without RDB or AOF, and the
data directories are removed afterwards.
"""

import os
import pwd
import shutil
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
