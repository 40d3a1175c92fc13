"""A private PostgreSQL for a benchmark: Debian's server (``make datastores``) in a temp dir, on a free
loopback port, removed afterwards.

The same recipe as tests/support/datastores.py (which is pytest's: it skips or fails a test), kept
small here so a benchmark does not import the test suite.  PostgreSQL refuses to run as root: when
we are root, initdb and the server run as the ``postgres`` account.  Durability is off (fsync,
synchronous commit): it only speeds up loading, never a read.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_wal_size": "4GB",  # a bulk load without a checkpoint every few seconds
}


def server_bin(name: str) -> str:
    """``name`` from the newest /usr/lib/postgresql/<version>/bin, else from PATH."""
    versions = [p for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}") if p.parts[-3].isdigit()]
    newest = max(versions, key=lambda p: int(p.parts[-3]), default=None)
    found = str(newest) if newest else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not installed: `make datastores` installs Debian's PostgreSQL")
    return found


def _account() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise SystemExit("running as root and there is no postgres account to run PostgreSQL as") from None
    return "postgres"


def _as(account: str | None) -> list[str]:
    return (
        []
        if account is None
        else ["setpriv", f"--reuid={account}", f"--regid={account}", "--init-groups", "--"]
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(server: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"PostgreSQL exited with code {server.returncode} while starting")
        try:
            psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres").close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL did not answer within {READY_TIMEOUT_SECONDS:.0f} s"
                ) from None
        time.sleep(0.2)


def _create_database(port: int, name: str) -> None:
    connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


@contextmanager
def private_postgres(database: str = "attune_bench") -> Iterator[str]:
    """Yields the SQLAlchemy URL of ``database`` on a fresh cluster; stops it and removes it after."""
    account = _account()
    data = Path(tempfile.mkdtemp(prefix="attune-bench-pg-"))
    server: subprocess.Popen[bytes] | None = None
    try:
        if account is not None:
            shutil.chown(data, account, account)
        subprocess.run(
            [*_as(account), server_bin("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        port = _free_port()
        options = [arg for key, value in SETTINGS.items() for arg in ("-c", f"{key}={value}")]
        options += ["-c", f"unix_socket_directories={data}"]
        command = [*_as(account), server_bin("postgres"), "-D", str(data), "-p", str(port), *options]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(server, port)
        _create_database(port, database)
        yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)  # fast shutdown: ends the sessions left open
            try:
                server.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(data, ignore_errors=True)
