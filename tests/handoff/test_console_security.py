"""The console and API as an attacker tries them (issue 14, "Agent console"): each finding's regression test.

Login throttling per account and per address, with backoff; one scrypt per login whatever the
username; Secure cookies and HSTS over https; security headers on every response; ``Bearer ``
required; the login form's CSRF token bound to a pre-session the server issued; nothing from the
query string shown on a page.
"""

import asyncio
import dataclasses
import hashlib
import ipaddress
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from handoff.app import create_app
from handoff.audit import audit_log
from handoff.console import login_forms, login_throttle
from handoff.console.login_throttle import LoginPolicy
from handoff.core import accounts
from handoff.core.app_keys import ENGINE
from handoff.core.settings import Settings
from tests.support.console import csrf, log_in

PASSWORD = "demo-password-123"
API_TOKEN = "api-token-0123456789abcdef"


@pytest.fixture
def console_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, demo_password=PASSWORD, api_token=API_TOKEN)


@pytest.fixture
async def service(aiohttp_client, console_settings: Settings) -> TestClient:
    return await aiohttp_client(create_app(console_settings))


async def try_login(client: TestClient, username: str, password: str) -> Any:
    page = await (await client.get("/console/login")).text()
    return await client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": csrf(page)},
        allow_redirects=False,
    )


# --- no login limit -----------------------------------------------------------------------
async def test_after_repeated_wrong_passwords_even_the_right_one_is_refused(service: TestClient) -> None:
    statuses = [(await try_login(service, "agent", f"guess-{n}")).status for n in range(50)]
    right = await try_login(service, "agent", PASSWORD)

    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    assert right.status == 429 and int(right.headers["Retry-After"]) > 0
    assert "Too many failed logins" in await right.text()


async def test_guesses_sent_all_at_once_are_throttled_like_guesses_in_a_row(
    aiohttp_client, service: TestClient
) -> None:
    browsers = [await aiohttp_client(service.server) for _ in range(20)]

    responses = await asyncio.gather(*(try_login(b, "agent", f"guess-{n}") for n, b in enumerate(browsers)))
    statuses = sorted(r.status for r in responses)

    assert statuses.count(401) <= 5 and set(statuses) <= {401, 429}, statuses  # at most 5 passwords checked
    now = datetime.now(timezone.utc)  # and only the checked ones count (a refused guess is not a failure)
    assert login_throttle.failures(service.app[ENGINE], "agent", LoginPolicy(), now) == statuses.count(401)


async def test_one_address_guessing_many_usernames_is_locked_out(aiohttp_client, settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, demo_password=PASSWORD, login_address_max_failures=8))
    client = await aiohttp_client(app)

    statuses = [(await try_login(client, f"user{n}", "guess")).status for n in range(8)]
    then = await try_login(client, "agent", PASSWORD)  # a real account, never tried before

    assert statuses == [401] * 8 and then.status == 429


async def test_unknown_usernames_are_locked_exactly_like_real_ones(service: TestClient) -> None:
    real = [(await try_login(service, "agent", "wrong")).status for _ in range(6)]
    made_up = [(await try_login(service, "nobody-here", "wrong")).status for _ in range(6)]

    assert real == made_up == [401] * 5 + [429]


def test_each_failure_past_the_limit_doubles_the_lock_up_to_the_cap(settings: Settings) -> None:
    from handoff.core.db import create_engine_for
    from handoff.core.migrate import upgrade_to_head

    upgrade_to_head(settings.database_url)
    engine = create_engine_for(settings.database_url)
    policy = LoginPolicy(max_failures=3, address_max_failures=100)
    start = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    locks = []
    now = start
    for _ in range(7):
        _, held = login_throttle.begin_attempt(engine, policy, "agent", "192.0.2.1", now)
        assert held is None  # every attempt here comes when no lock holds
        lock = login_throttle.locked_until(engine, policy, "agent", "192.0.2.1", now)  # after it failed
        locks.append(None if lock is None else lock - now)
        now = lock or now + timedelta(seconds=1)  # the attacker tries again the moment the lock ends

    assert locks[:2] == [None, None]
    assert locks[2:] == [timedelta(seconds=s) for s in (30, 60, 120, 240, 480)]
    assert policy.lock_after(40, 3) == policy.cap
    moment = now - timedelta(seconds=1)  # still inside the last lock
    assert (
        login_throttle.locked_until(engine, policy, "agent", "192.0.2.2", moment) is not None
    )  # any address
    login_throttle.clear(engine, "agent")
    assert login_throttle.locked_until(engine, policy, "agent", "192.0.2.2", moment) is None


async def test_failed_logins_are_in_the_audit_log_without_unknown_usernames(service: TestClient) -> None:
    for _ in range(5):
        await try_login(service, "agent", "wrong")
    await try_login(service, "hunter2-typed-as-username", "wrong")
    engine = service.app[ENGINE]

    entries = audit_log.for_conversation(engine, "agent:agent")
    unknown = audit_log.for_conversation(engine, "agent:(no such account)")

    assert [r.entry.kind for r in entries] == ["console_login_failed"] * 5
    assert entries[-1].entry.inputs["locked_until"] is not None  # the fifth started the lock
    assert entries[0].entry.inputs["address"] == "127.0.0.1"
    assert len(unknown) == 1 and "hunter2" not in str(unknown[0].to_dict())
    assert audit_log.verify(engine).ok


async def test_a_successful_login_forgives_the_accounts_earlier_failures(service: TestClient) -> None:
    for _ in range(4):
        await try_login(service, "agent", "wrong")
    assert (await try_login(service, "agent", PASSWORD)).status == 303
    statuses = [(await try_login(service, "agent", "wrong")).status for _ in range(4)]

    assert statuses == [401] * 4


# --- usernames leak by timing -------------------------------------------------------------
def test_an_unknown_username_costs_the_same_scrypt_as_a_known_one(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handoff.core.db import create_engine_for
    from handoff.core.migrate import upgrade_to_head

    upgrade_to_head(settings.database_url)
    engine = create_engine_for(settings.database_url)
    accounts.create_agent(engine, "kim", "Kim", "kim-password-1", "agent")
    real_scrypt, calls = hashlib.scrypt, []

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(kwargs.get("n"))
        return real_scrypt(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    counted = {}
    for username in ("kim", "nobody"):
        calls.clear()
        assert accounts.authenticate(engine, username, "wrong-password") is None
        counted[username] = list(calls)

    # One scrypt, same cost, either way (tests hash cheaper: tests/conftest.py; the shipped cost below).
    assert counted["kim"] == counted["nobody"] == [accounts._SCRYPT["n"]]


# --- missing hardening ----------------------------------------------------------------------
async def test_over_https_cookies_are_secure_and_hsts_is_sent(
    aiohttp_client, console_settings: Settings
) -> None:
    client = await aiohttp_client(
        create_app(dataclasses.replace(console_settings, public_url="https://console.example.com"))
    )

    page = await client.get("/console/login")
    # The test talks plain http to the app, so its cookie jar holds the Secure cookie back: sent by hand.
    presession = page.cookies["attune_login_csrf"]
    logged_in = await client.post(
        "/console/login",
        data={"username": "agent", "password": PASSWORD, "csrf_token": csrf(await page.text())},
        headers={"Cookie": f"attune_login_csrf={presession.value}"},
        allow_redirects=False,
    )

    assert presession["secure"] and presession["httponly"]
    assert logged_in.status == 303 and logged_in.cookies["attune_session"]["secure"]
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert logged_in.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_over_plain_http_there_is_no_hsts(service: TestClient) -> None:
    page = await service.get("/console/login")

    assert "Strict-Transport-Security" not in page.headers
    assert not page.cookies["attune_login_csrf"]["secure"] and page.cookies["attune_login_csrf"]["httponly"]


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", "/console/login", {}),
        ("GET", "/console", {}),  # a redirect to the login page
        ("GET", "/console/static/console.css", {}),
        ("GET", "/healthz", {}),
        ("GET", "/api/v1/handoffs", {}),  # 401 in the error shape
        ("GET", "/api/v1/handoffs", {"Authorization": f"Bearer {API_TOKEN}"}),
        ("GET", "/no/such/route", {}),
        ("GET", "/chat", {}),
        ("POST", "/console/login", {}),
    ],
)
async def test_every_response_carries_the_security_headers(
    service: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = await service.request(method, path, headers=headers, allow_redirects=False)

    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") == "no-referrer"
    assert "default-src 'self'" in response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


async def test_the_chat_pages_policy_allows_its_socket_io_connection(
    aiohttp_client, console_settings: Settings
) -> None:
    configured = dataclasses.replace(console_settings, public_rasa_url="https://rasa.example.com")
    client = await aiohttp_client(create_app(configured))

    policy = (await client.get("/chat")).headers["Content-Security-Policy"]

    assert "connect-src 'self' https://rasa.example.com wss://rasa.example.com" in policy


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (API_TOKEN, 401),  # a bare token
        (f"Token {API_TOKEN}", 401),
        (f"Bearer{API_TOKEN}", 401),
        ("Bearer ", 401),
        (f"Bearer {API_TOKEN}", 200),
        (f"bearer {API_TOKEN}", 200),  # the scheme is case-insensitive (RFC 7235)
    ],
)
async def test_the_api_token_must_come_as_a_bearer_token(
    service: TestClient, header: str, status: int
) -> None:
    response = await service.get("/api/v1/handoffs", headers={"Authorization": header})

    assert response.status == status


async def test_a_login_csrf_value_the_attacker_chose_is_refused(service: TestClient) -> None:
    service.session.cookie_jar.update_cookies({"attune_login_csrf": "attacker-chosen"})

    planted = await service.post(
        "/console/login",
        data={"username": "agent", "password": PASSWORD, "csrf_token": "attacker-chosen"},
        allow_redirects=False,
    )

    assert planted.status == 403


async def test_a_login_form_works_only_with_its_own_pre_session(aiohttp_client, service: TestClient) -> None:
    other = await aiohttp_client(service.server)
    foreign = csrf(await (await other.get("/console/login")).text())  # the attacker's own form
    await service.get("/console/login")  # the victim's pre-session cookie

    forged = await service.post(
        "/console/login",
        data={"username": "agent", "password": PASSWORD, "csrf_token": foreign},
        allow_redirects=False,
    )

    assert forged.status == 403


def test_a_pre_session_expires() -> None:
    key = login_forms.form_key("k" * 32)
    issued = 1_800_000_000.0
    presession = login_forms.new_presession(issued)
    token = login_forms.form_token(key, presession)

    assert login_forms.is_valid(key, presession, token, issued + 60)
    assert not login_forms.is_valid(key, presession, token, issued + 2 * 3600)
    assert not login_forms.is_valid(login_forms.form_key("j" * 32), presession, token, issued + 60)


async def test_text_in_the_query_is_never_shown_on_a_page(service: TestClient) -> None:
    created = await service.post(
        "/api/v1/handoffs", json=_payload(), headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    handoff_id = (await created.json())["id"]
    await log_in(service, "agent", PASSWORD)
    planted = "Your session expired: call +44 20 7946 0000 to restore it"

    page = await (
        await service.get(f"/console/handoffs/{handoff_id}", params={"error": planted, "notice": planted})
    ).text()
    coded = await (
        await service.get(f"/console/handoffs/{handoff_id}", params={"error": "claim_undone"})
    ).text()

    assert "7946" not in page and "Your session expired" not in page
    assert "The assistant could not be paused, so the claim was undone" in coded


def _payload() -> dict[str, Any]:
    import json

    from handoff.shared.schema_file import EXAMPLE_FILE

    return dict(json.loads(EXAMPLE_FILE.read_text()))


# --- the client's address: believed from a trusted proxy only -------------------------------
async def guesses_from(client: TestClient, forwarded_for: str, usernames: list[str]) -> list[int]:
    statuses = []
    for username in usernames:
        page = await (await client.get("/console/login")).text()
        response = await client.post(
            "/console/login",
            data={"username": username, "password": "guess", "csrf_token": csrf(page)},
            headers={"X-Forwarded-For": forwarded_for},
            allow_redirects=False,
        )
        statuses.append(response.status)
    return statuses


@pytest.mark.parametrize(("trusted", "second_client"), [("127.0.0.0/8", [401]), ("", [429])])
async def test_x_forwarded_for_counts_only_behind_a_trusted_proxy(
    aiohttp_client, settings: Settings, trusted: str, second_client: list[int]
) -> None:
    proxies = tuple(ipaddress.ip_network(n) for n in trusted.split())
    configured = dataclasses.replace(
        settings, demo_password=PASSWORD, login_address_max_failures=3, trusted_proxies=proxies
    )
    client = await aiohttp_client(create_app(configured))

    first = await guesses_from(client, "198.51.100.7", ["a", "b", "c", "d"])
    second = await guesses_from(client, "198.51.100.8", ["e"])

    assert first == [401, 401, 401, 429]
    assert second == second_client  # its own address behind the proxy; otherwise everyone is "the proxy"


def test_trusted_proxies_must_be_ip_addresses() -> None:
    from handoff.core.settings import ConfigError

    environ = {"ATTUNE_SESSION_KEY": "s" * 32, "ATTUNE_TRUSTED_PROXIES": "10.0.0.0/8, ::1 192.0.2.7"}
    assert [str(n) for n in Settings.from_env(environ).trusted_proxies] == [
        "10.0.0.0/8",
        "::1/128",
        "192.0.2.7/32",
    ]
    with pytest.raises(ConfigError, match="ATTUNE_TRUSTED_PROXIES"):
        Settings.from_env({**environ, "ATTUNE_TRUSTED_PROXIES": "proxy.internal"})


def test_passwords_are_hashed_with_the_shipped_scrypt_cost() -> None:
    """Tests hash at a lower cost (tests/conftest.py); what ships is n=2**14, r=8, p=1, 32 bytes."""
    from pathlib import Path

    source = Path(accounts.__file__).read_text(encoding="utf-8")
    assert '\n_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}\n' in source
