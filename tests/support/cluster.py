"""Attune scaled out on Rasa's own mechanisms, on 127.0.0.1: two Rasa servers, two action servers.

    client ─▶ rasa-lb ─┬─▶ rasa-a ─┐  tracker store: PostgreSQL (SQL, dialect postgresql)
       └─ or straight ─┴─▶ rasa-b ─┤  lock store: Redis (serialises a conversation across instances)
                                   ▼
                               act-lb ─┬─▶ act-a ─┐  demo store: PostgreSQL; outbox: each its own
                                       └─▶ act-b ─┴─▶ handoff service ─▶ PostgreSQL

Both Rasa servers call their actions through one load balancer (bench/lb.py) in front of both
action servers, so any instance's action may run on either action server: they keep no state of
their own but their durable outbox, whose deliveries the handoff service de-duplicates.  The
endpoints.yml of the run is bot.launcher's, with the tracker and lock store sections replaced.
"""

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.launcher import (
    ROOT,
    Ports,
    Service,
    Stack,
    actions_service,
    child_env,
    handoff_service,
    rasa_service,
    write_endpoints,
)
from tests.support.datastores import postgres, redis_server, require_servers
from tests.support.ports import free_port
from tests.support.stack import trained_model
from tests.support.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, TWILIO_NUMBER, FakeTwilioThread

START_TIMEOUT = 420.0
TRACKER_DB, HANDOFF_DB, STORE_DB = "tracker", "handoff", "store"
LOCK_STORE = "bot.components.lock_store.AtomicRedisLockStore"
TRACKER_STORE = "bot.components.tracker_store.GuardedSQLTrackerStore"
# Rasa's RedisLockStore keeps a conversation's lock at this key prefix + the conversation id.
LOCK_KEY_PREFIX = "lock:"


@dataclass(frozen=True)
class Cluster:
    rasa_a: str
    rasa_b: str
    rasa_lb: str
    actions_a: str
    actions_b: str
    handoff_url: str
    token: str
    handoff_token: str
    redis_port: int
    # The loopback Twilio both Rasa servers send SMS replies to; Twilio signs for rasa_lb's URL.
    twilio: FakeTwilioThread
    # The tracker store's database (PostgreSQL), where the Twilio message ids are kept too.
    tracker_database_url: str


def _lb(name: str, port: int, upstreams: list[str], health_path: str) -> Service:
    command = [sys.executable, "-m", "bench.lb", "--port", str(port)]
    for upstream in upstreams:
        command += ["--upstream", upstream]
    return Service(name, command, f"http://127.0.0.1:{port}{health_path}")


def _seed_store(env: dict[str, str]) -> None:
    """The shared demo store, seeded once before the two action servers race to seed it."""
    done = subprocess.run(
        [sys.executable, "-m", "actions.store", "seed"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"seeding the demo store failed:\n{done.stdout}{done.stderr}")


def _warm_up(rasa: str, token: str) -> None:
    """Checks the model is loaded and has the instance answer once.

    A Rasa server's first message builds TensorFlow's graphs and the sentence encoder, which
    holds its event loop for seconds; the test is about serving, not about starting up.
    """
    try:
        with urllib.request.urlopen(f"{rasa}/status?token={token}", timeout=10) as response:
            model = json.load(response).get("model_file")
        request = urllib.request.Request(
            f"{rasa}/webhooks/rest/webhook",
            data=json.dumps({"sender": f"warm-up-{uuid.uuid4().hex}", "message": "hello"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            replies = json.load(response)
    except (OSError, ValueError) as error:  # a 409 (no model loaded) is an HTTPError, an OSError
        raise RuntimeError(f"{rasa} does not answer: {error!r}") from error
    if not model or not replies:
        raise RuntimeError(f"{rasa} has no model ({model!r}) or no answer ({replies!r})")


@contextmanager
def start_cluster() -> Iterator[Cluster]:
    """Starts the cluster above on free loopback ports; stops it and its data stores when the block ends."""
    model = trained_model()
    require_servers()
    with ExitStack() as running:
        pg = running.enter_context(postgres(free_port()))
        redis_port = running.enter_context(redis_server(free_port()))
        pg.create_databases(TRACKER_DB, HANDOFF_DB, STORE_DB)
        var_dir = Path(running.enter_context(tempfile.TemporaryDirectory(prefix="attune-scale-")))
        twilio = running.enter_context(FakeTwilioThread())

        port = {name: free_port() for name in ("rasa-a", "rasa-b", "rasa-lb", "act-a", "act-b", "act-lb")}
        port["handoff"] = free_port()
        # The public addresses are the load balancers': the handoff service pauses and resumes
        # conversations through rasa-lb, and Rasa reaches its actions through act-lb.
        ports = Ports(rasa=port["rasa-lb"], actions=port["act-lb"], handoff=port["handoff"])
        token = "scale-test-token"
        # None of the caller's ATTUNE_* settings: this run's are all below or child_env's.
        shell = {k: v for k, v in os.environ.items() if not k.startswith("ATTUNE_")}
        env = child_env(ports, var_dir, token, shell)
        env.update(
            {
                "ATTUNE_HANDOFF_DATABASE_URL": pg.url(HANDOFF_DB),
                "ATTUNE_STORE_DATABASE_URL": pg.url(STORE_DB),
                "ATTUNE_TRACKER_DATABASE_URL": pg.url(TRACKER_DB),
                "ATTUNE_HANDOFF_API_TOKEN": "scale-test-handoff-token",
                "ATTUNE_DEMO_PASSWORD": "scale-test-demo-password",
                "ATTUNE_LOG_LEVEL": "WARNING",
                # SMS through the loopback Twilio; ATTUNE_PUBLIC_RASA_URL stays child_env's, rasa-lb.
                "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                "TWILIO_FROM_NUMBER": TWILIO_NUMBER,
                "ATTUNE_TWILIO_API_BASE": twilio.base_url,
            }
        )
        _seed_store(env)
        endpoints = write_endpoints(
            var_dir,
            ports,
            {
                "tracker_store": {
                    # Rasa's SQL store, whose errors fail one request (bot/components/tracker_store.py).
                    "type": TRACKER_STORE,
                    "dialect": "postgresql",
                    "url": pg.host,
                    "port": pg.port,
                    "db": TRACKER_DB,
                    "username": pg.user,
                },
                # Rasa's RedisLockStore with atomic updates (bot/components/lock_store.py): the
                # stock ``type: redis`` loses a message when two of one conversation arrive at once.
                "lock_store": {"type": LOCK_STORE, "url": "127.0.0.1", "port": redis_port, "db": 1},
            },
        )

        def own_outbox(name: str) -> dict[str, str]:
            (var_dir / name).mkdir()
            return {"ATTUNE_OUTBOX_DATABASE_URL": f"sqlite:///{var_dir / name / 'outbox.db'}"}

        url = {name: f"http://127.0.0.1:{number}" for name, number in port.items()}
        plan = [
            handoff_service(port["handoff"]),
            actions_service(port["act-a"], "act-a", own_outbox("act-a")),
            actions_service(port["act-b"], "act-b", own_outbox("act-b")),
            _lb("act-lb", port["act-lb"], [url["act-a"], url["act-b"]], "/health"),
            # Both Rasa servers load the model at the same time.
            rasa_service(port["rasa-a"], model, endpoints, token, "rasa-a"),
            rasa_service(port["rasa-b"], model, endpoints, token, "rasa-b"),
            _lb("rasa-lb", port["rasa-lb"], [url["rasa-a"], url["rasa-b"]], "/"),
        ]
        stack = Stack(env)
        running.callback(stack.stop)
        try:
            for service in plan:
                stack.start(service)
            for service in plan:
                stack.wait_ready(service, START_TIMEOUT)
            for name in ("rasa-a", "rasa-b"):
                _warm_up(url[name], token)
        except RuntimeError as error:
            pytest.fail(f"the two-instance cluster did not start: {error}")
        yield Cluster(
            rasa_a=url["rasa-a"],
            rasa_b=url["rasa-b"],
            rasa_lb=url["rasa-lb"],
            actions_a=url["act-a"],
            actions_b=url["act-b"],
            handoff_url=url["handoff"],
            token=token,
            handoff_token=env["ATTUNE_HANDOFF_API_TOKEN"],
            redis_port=redis_port,
            twilio=twilio,
            tracker_database_url=pg.url(TRACKER_DB),
        )
