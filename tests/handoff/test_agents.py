"""``attune agents add|reset|disable|list`` against a real SQLite file, and the console that uses it."""

import dataclasses
import io
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot.cli import main
from handoff.app import create_app
from handoff.audit import audit_log
from handoff.core.db import create_engine_for
from handoff.core.settings import Settings
from tests.support.console import csrf, log_in

KIM_PASSWORD = "kim-chose-this-one"


def attune(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["agents", *args, "--database-url", settings.database_url])


def entries(settings: Settings, username: str) -> list[tuple[str, str]]:
    engine = create_engine_for(settings.database_url)
    try:
        return [
            (r.entry.kind, r.entry.actor) for r in audit_log.for_conversation(engine, f"agent:{username}")
        ]
    finally:
        engine.dispose()


def test_an_account_is_added_with_a_password_from_stdin_and_audited(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = attune(
        settings,
        monkeypatch,
        "add",
        "kim",
        "--name",
        "Kim Lee",
        "--password-stdin",
        stdin=KIM_PASSWORD + "\n",
    )
    out = capsys.readouterr().out
    attune(settings, monkeypatch, "list")
    listing = capsys.readouterr().out

    assert code == 0 and KIM_PASSWORD not in out
    assert "kim\tagent\tactive\tKim Lee" in listing
    assert entries(settings, "kim") == [("agent_added", "operator (attune agents)")]


def test_a_generated_password_is_printed_once_and_works(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from handoff.core import accounts

    attune(settings, monkeypatch, "add", "sam", "--name", "Sam", "--role", "supervisor")
    password = capsys.readouterr().out.split("password: ", 1)[1].strip()
    engine = create_engine_for(settings.database_url)

    agent = accounts.authenticate(engine, "sam", password)

    assert agent is not None and agent.role == "supervisor" and len(password) >= 16


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("add", "kim", "--name", "Kim", "--password-stdin"), "short\n", "12 to 256 characters"),
        (("add", "kim smith", "--name", "Kim"), "", "a username is"),
        (("reset", "nobody", "--password-stdin"), KIM_PASSWORD, "there is no account 'nobody'"),
        (("disable", "nobody"), "", "there is no account 'nobody'"),
    ],
)
def test_a_bad_request_is_refused_with_a_reason(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    stdin: str,
    message: str,
) -> None:
    code = attune(settings, monkeypatch, *args, stdin=stdin)

    assert code == 2 and message in capsys.readouterr().err


def test_the_same_username_cannot_be_added_twice(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    attune(settings, monkeypatch, "add", "kim", "--name", "Kim", "--password-stdin", stdin=KIM_PASSWORD)

    again = attune(
        settings, monkeypatch, "add", "kim", "--name", "Kim", "--password-stdin", stdin=KIM_PASSWORD
    )

    assert again == 2 and "already an account 'kim'" in capsys.readouterr().err


@pytest.fixture
async def console(aiohttp_client, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    attune(settings, monkeypatch, "add", "kim", "--name", "Kim", "--password-stdin", stdin=KIM_PASSWORD)
    return await aiohttp_client(create_app(dataclasses.replace(settings, demo_password="demo-password-123")))


async def test_a_disabled_account_is_logged_out_and_cannot_log_in_again(
    console: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await log_in(console, "kim", KIM_PASSWORD)
    assert (await console.get("/console", allow_redirects=False)).status == 200

    assert attune(settings, monkeypatch, "disable", "kim") == 0
    after = await console.get("/console", allow_redirects=False)
    page = await (await console.get("/console/login")).text()
    again = await console.post(
        "/console/login", data={"username": "kim", "password": KIM_PASSWORD, "csrf_token": csrf(page)}
    )

    assert after.status == 303 and after.headers["Location"] == "/console/login"
    assert again.status == 401
    assert [kind for kind, _ in entries(settings, "kim")] == [
        "agent_added",
        "agent_disabled",
        "console_login_failed",
    ]


async def test_a_reset_password_ends_the_accounts_sessions(
    console: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    await log_in(console, "kim", KIM_PASSWORD)

    assert (
        attune(settings, monkeypatch, "reset", "kim", "--password-stdin", stdin="a-brand-new-password\n") == 0
    )
    after = await console.get("/console", allow_redirects=False)

    assert after.status == 303
    await log_in(console, "kim", "a-brand-new-password")
    assert [kind for kind, _ in entries(settings, "kim")] == ["agent_added", "agent_password_reset"]


def test_every_stored_change_keeps_the_audit_chain_intact(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    attune(settings, monkeypatch, "add", "kim", "--name", "Kim", "--password-stdin", stdin=KIM_PASSWORD)
    attune(settings, monkeypatch, "reset", "kim")
    attune(settings, monkeypatch, "disable", "kim")

    assert main(["audit", "verify", "--database-url", settings.database_url]) == 0
