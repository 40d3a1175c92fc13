"""The action server's composition root: built once, with injectable dependencies, reset for tests."""

import urllib.request
from pathlib import Path

import pytest
from aiohttp import web

from actions import bootstrap, resources
from actions.audit_queue import flush_once
from actions.clients.handoff import HandoffClient
from actions.outbox import Outbox
from actions.settings import ActionServerSettings, ConfigError
from tests.support.ports import free_port


def test_each_resource_is_built_once_and_shared() -> None:
    assert resources.outbox() is resources.outbox()
    assert resources.outbox_flusher() is resources.outbox_flusher()
    assert resources.handoff_client() is resources.handoff_client()
    # The flusher sends from the process's outbox, not from a second one.
    resources.outbox().put({"idempotency_key": "shared-1"})
    assert bootstrap.services().outbox().pending_count() == 1
    assert [task.name for task in resources.background_tasks()] == [
        "handoff outbox flusher",
        "audit queue flusher",
        "CSAT queue flusher",
    ]


def test_a_test_hands_in_its_own_dependencies(tmp_path: Path) -> None:
    fake_outbox = Outbox.open(f"sqlite:///{tmp_path / 'elsewhere.db'}")
    fake_client = HandoffClient("http://127.0.0.1:1", "fake-token-000000")
    settings = ActionServerSettings(outbox_database_url=f"sqlite:///{tmp_path / 'unused.db'}")

    bootstrap.bootstrap(settings, outbox=fake_outbox, handoff_client=fake_client)

    assert resources.outbox() is fake_outbox and resources.handoff_client() is fake_client
    assert bootstrap.services().settings is settings
    assert not (tmp_path / "unused.db").exists()  # the real outbox was never opened


def test_an_unknown_dependency_is_refused() -> None:
    with pytest.raises(TypeError, match="outbx"):
        bootstrap.bootstrap(ActionServerSettings(), outbx=object())


def test_reset_builds_a_fresh_container_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = resources.outbox()
    monkeypatch.setenv("ATTUNE_OUTBOX_DATABASE_URL", f"sqlite:///{tmp_path / 'second.db'}")
    assert resources.outbox() is first  # settings are read once per container

    bootstrap.reset()

    assert resources.outbox() is not first
    assert (tmp_path / "second.db").exists()


def test_a_malformed_setting_fails_when_the_container_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", "ftp://nowhere")
    with pytest.raises(ConfigError, match="ATTUNE_HANDOFF_URL"):
        bootstrap.bootstrap()


async def test_misconfigured_calls_are_counted_in_the_metrics(
    aiohttp_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def wrong_token(request: web.Request) -> web.Response:
        return web.json_response({"error": "unauthorized", "detail": "wrong token"}, status=401)

    app = web.Application()
    app.router.add_post("/api/v1/audit", wrong_token)
    server = await aiohttp_server(app)
    port = free_port()
    monkeypatch.setenv("ATTUNE_HANDOFF_URL", str(server.make_url("")).rstrip("/"))
    monkeypatch.setenv("ATTUNE_ACTIONS_METRICS_PORT", str(port))
    services = bootstrap.services()
    services.audit_queue().put_all([{"key": "a-1"}])
    try:
        assert await flush_once(services.audit_queue(), services.audit_client()) == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            exposition = response.read().decode()
    finally:
        served = services.metrics().server
        served.shutdown()
        served.server_close()

    assert 'attune_service_misconfigured_total{api="audit",status="401"} 1.0' in exposition
    assert services.audit_queue().pending_count() == 1  # kept for when the token is fixed
