"""A handoff the customer was told is saved reaches the service once it answers again, with no traffic.

The real processes on loopback: the action server as it is deployed (``python -m actions.server``)
over an outbox holding a handoff that a long outage left waiting (backoff at its cap), and the
handoff service (``python -m handoff``) started only later.  Nobody writes to the bot: the action
server's own flusher must deliver it.  Issue 12 asks for 30 s; the assertion is generous (a loaded CI
machine) and the measured time is printed (``-s``) for the Reliability section.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from actions.outbox import Outbox
from handoff.shared.schema_file import EXAMPLE_FILE
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "outbox-recovery-token-0000"
SESSION_KEY = "outbox-recovery-session-key-0123456789"
START_TIMEOUT = 120.0
DELIVERY_DEADLINE = 60.0  # generous; the goal is 30 s and the cap on the backoff is 10 s


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def process(
    command: list[str], env: Mapping[str, str], log: Path, health: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Runs ``command`` until the block ends (SIGTERM, as a supervisor stops it), once ``health`` answers."""
    with log.open("wb") as out:
        child = subprocess.Popen(command, cwd=ROOT, env=dict(env), stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not answers(health):
                assert child.poll() is None, log.read_text(errors="replace")[-3000:]
                assert time.monotonic() < deadline, f"{command} did not answer {health}"
                time.sleep(0.1)
            yield child
        finally:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def handoffs_with_key(database: Path, key: str) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(database) as db:
            return int(
                db.execute("SELECT count(*) FROM handoffs WHERE idempotency_key = ?", (key,)).fetchone()[0]
            )
    except sqlite3.OperationalError:  # the service is still creating its tables
        return 0


def test_a_saved_handoff_reaches_the_service_once_it_answers_again_with_no_traffic(tmp_path: Path) -> None:
    actions_port, handoff_port = free_port(), free_port()
    outbox_url = f"sqlite:///{tmp_path / 'outbox.db'}"
    payload = json.loads(EXAMPLE_FILE.read_text())
    key = str(payload["idempotency_key"])
    # A long outage: the customer was told "saved", and the retries have backed off to the cap.
    outbox = Outbox.open(outbox_url)
    outbox.put(payload)
    for _ in range(10):
        outbox.failed(key, "connection refused")
    outbox.engine.dispose()

    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE_")}
    env |= {
        "ATTUNE_OUTBOX_DATABASE_URL": outbox_url,
        "ATTUNE_STORE_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}",
        "ATTUNE_HANDOFF_URL": f"http://127.0.0.1:{handoff_port}",
        "ATTUNE_HANDOFF_API_TOKEN": TOKEN,
        "ATTUNE_HANDOFF_PORT": str(handoff_port),
        "ATTUNE_HANDOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'handoff.db'}",
        # The handoff service verifies web chat sessions with the Rasa server's key (required).
        "ATTUNE_SESSION_KEY": SESSION_KEY,
        "SANIC_HOST": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
    }
    actions = [sys.executable, "-m", "actions.server", "--port", str(actions_port)]
    handoff = [sys.executable, "-m", "handoff"]

    with process(actions, env, tmp_path / "actions.log", f"http://127.0.0.1:{actions_port}/health") as server:
        time.sleep(2.0)  # the service is still down: the flusher finds that out on its own
        with process(handoff, env, tmp_path / "handoff.log", f"http://127.0.0.1:{handoff_port}/healthz"):
            back = time.monotonic()
            while not handoffs_with_key(tmp_path / "handoff.db", key):
                assert time.monotonic() - back < DELIVERY_DEADLINE, (tmp_path / "actions.log").read_text()[
                    -3000:
                ]
                time.sleep(0.1)
            delivered_after = time.monotonic() - back
        print(f"\nsaved handoff delivered {delivered_after:.1f} s after the handoff service answered again")
        assert server.poll() is None

    assert server.returncode == 0  # stopped by SIGTERM, the flushers with it, cleanly
    assert handoffs_with_key(tmp_path / "handoff.db", key) == 1
    assert Outbox.open(outbox_url).pending_count() == 0
