"""Role-based access: every route of the handoff service, for every principal, against the default policy
(policy/access.yml).

``EXPECTED`` holds one row per route registered in handoff/app.py: the status each principal gets and,
for responses that carry handoff data, which sensitive things the body shows (distress indicators,
phone numbers, unmasked personal data).  A route added without a row fails
``test_every_route_has_a_decision``; a row for a route that no longer exists fails it too.
"""

import copy
import dataclasses
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.app import create_app
from handoff.callbacks import call_jobs
from handoff.console import feedback
from handoff.core import access
from handoff.core.app_keys import ENGINE, SETTINGS
from handoff.core.models import Agent
from handoff.core.settings import ConfigError, Settings
from handoff.queue import handoffs
from handoff.shared.identity_tokens import issue_session_id
from handoff.shared.schema_file import EXAMPLE_FILE
from tests.support.console import PASSWORD, log_in
from tests.support.fake_rasa import FakeRasa

API_TOKEN = "api-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
CALLBACK_NUMBER = "+447911123456"

ANONYMOUS, AGENT, SUPERVISOR, ADMIN, TOKEN = "anonymous", "agent", "supervisor", "admin", "api token"
DESIGNER = "designer"  # the playground only (policy/access.yml's agent_console and empathy_playground)
PRINCIPALS = (ANONYMOUS, AGENT, SUPERVISOR, ADMIN, DESIGNER, TOKEN)
CONSOLE_USERS = (AGENT, SUPERVISOR, ADMIN, DESIGNER)
AGENT_CONSOLE_USERS = (AGENT, SUPERVISOR, ADMIN)

# What a body shows, found by the test data's markers (every handoff here carries all of them).
DISTRESS, PHONE, UNMASKED = "distress indicators", "phone numbers", "unmasked personal data"
MARKERS = {
    DISTRESS: ('"trajectory"',),  # the chart's id in HTML, the payload's key in JSON
    PHONE: ("07700 900123", "+447700900123", CALLBACK_NUMBER),
    UNMASKED: ("ada@example.com", "12 Acacia Avenue"),
}
EVERYTHING = frozenset(MARKERS)


@dataclasses.dataclass(frozen=True)
class Outcome:
    status: int
    location: str | None = None  # where a 303 leads ("{handoff}": the case's handoff id)
    sees: frozenset[str] | None = None  # which of MARKERS the body shows; None: not checked


def ok(status: int = 200, *sees: str) -> Outcome:
    return Outcome(status, sees=frozenset(sees))


TO_LOGIN = Outcome(303, "/console/login")
FORBIDDEN = Outcome(403)
UNAUTHORISED = Outcome(401)


def console(
    agent: Outcome, supervisor: Outcome, admin: Outcome | None = None, designer: Outcome = FORBIDDEN
) -> dict[str, Outcome]:
    """A console route: no session (with or without the API token) goes to the login page; a designer's
    session opens no agent console page (403).
    """
    return {
        ANONYMOUS: TO_LOGIN,
        TOKEN: TO_LOGIN,
        AGENT: agent,
        SUPERVISOR: supervisor,
        ADMIN: admin or supervisor,
        DESIGNER: designer,
    }


def api(token: Outcome) -> dict[str, Outcome]:
    """An API route: the bearer token or 401, whatever console session the caller has."""
    return {principal: token if principal == TOKEN else UNAUTHORISED for principal in PRINCIPALS}


def everyone(outcome: Outcome) -> dict[str, Outcome]:
    return dict.fromkeys(PRINCIPALS, outcome)


@dataclasses.dataclass
class Case:
    """One principal's go at one route, with its own fresh handoff (and a flag and a call-back on it)."""

    principal: str
    client: TestClient
    service: TestClient  # calls the API with the token, for set-up
    handoff_id: str
    flag_id: int
    job_id: str
    csrf: str = ""


Request = Callable[[Case], Awaitable[tuple[str, dict[str, Any]]]]


def plain(path: str, **kwargs: Any) -> Request:
    """A request with no body (query parameters in kwargs)."""

    async def build(case: Case) -> tuple[str, dict[str, Any]]:
        return path.format(handoff=case.handoff_id, flag=case.flag_id, job=case.job_id), kwargs

    return build


def form(path: str, **fields: str) -> Request:
    """A console form post with the session's CSRF token."""

    async def build(case: Case) -> tuple[str, dict[str, Any]]:
        url = path.format(handoff=case.handoff_id, flag=case.flag_id, job=case.job_id)
        return url, {"data": {"csrf_token": case.csrf, **fields}}

    return build


def post_json(path: str, body: Any) -> Request:
    async def build(case: Case) -> tuple[str, dict[str, Any]]:
        document = body() if callable(body) else body
        return path.format(handoff=case.handoff_id, job=case.job_id), {"json": document}

    return build


async def consent_of_a_customer(case: Case) -> tuple[str, dict[str, Any]]:
    identities = [{"kind": "session", "value": f"rest:session-{case.handoff_id}"}]
    found = await case.service.post(
        "/api/v1/customers/resolve", json={"identities": identities}, headers=AUTH
    )
    return f"/api/v1/customers/{(await found.json())['customer']}/consent", {}


SESSION = [{"kind": "session", "value": "rest:session-access-test"}]


def signed_chat(path: str, method: str) -> Request:
    """A web chat request (live stream or typing) with a session id the Rasa server would have signed."""

    async def build(case: Case) -> tuple[str, dict[str, Any]]:
        signed = issue_session_id(case.service.app[SETTINGS].session_key)
        if method == "GET":
            return path, {"params": {"session_id": signed}}
        return path, {"json": {"session_id": signed, "active": True}}

    return build


def live(agent: Outcome, supervisor: Outcome) -> dict[str, Outcome]:
    """A live route of the console: an EventSource or fetch cannot follow a login redirect, so 401."""
    return {
        **console(agent, supervisor),
        ANONYMOUS: UNAUTHORISED,
        TOKEN: UNAUTHORISED,
        DESIGNER: UNAUTHORISED,
    }


def playground_json(path: str, body: dict[str, Any]) -> Request:
    """A playground fetch: a JSON body carrying the session's CSRF token."""

    async def build(case: Case) -> tuple[str, dict[str, Any]]:
        return path, {"json": {"csrf_token": case.csrf, **body}}

    return build


def web_switch(method: str, choice: str | None = None) -> Request:
    """The web chat's switch with a session id the Rasa server would have issued (signed)."""

    async def build(case: Case) -> tuple[str, dict[str, Any]]:
        signed = issue_session_id(case.service.app[SETTINGS].session_key)
        if method == "GET":
            return "/chat/consent", {"params": {"session_id": signed}}
        return "/chat/consent", {"json": {"session_id": signed, "emotion_processing": choice}}

    return build


async def new_canned(case: Case) -> tuple[str, dict[str, Any]]:
    """A canned response with a shortcut of its own (each principal's case adds one)."""
    fields = {"shortcut": uuid.uuid4().hex[:12], "title": "Hello", "body": "Hello {first_name}"}
    return "/console/canned", {"data": {"csrf_token": case.csrf, **fields}}


async def to_a_colleague(case: Case) -> tuple[str, dict[str, Any]]:
    """A transfer of the case's handoff to a colleague other than the principal."""
    colleague = agent_id(case.service, "admin" if case.principal != ADMIN else "supervisor")
    path = f"/console/handoffs/{case.handoff_id}/transfer"
    return path, {"data": {"csrf_token": case.csrf, "to": str(colleague), "note": "Over to you"}}


EXPECTED: dict[tuple[str, str], tuple[Request, dict[str, Outcome]]] = {
    # --- the console ------------------------------------------------------------------------
    ("GET", "/console"): (plain("/console"), console(ok(200), ok(200, PHONE, UNMASKED))),
    ("GET", "/console/login"): (plain("/console/login"), everyone(ok(200))),
    # The login form needs the token issued with a login page's pre-session cookie: refused for everyone here.
    ("POST", "/console/login"): (
        form("/console/login", username="agent", password=PASSWORD, csrf_token="forged"),
        everyone(FORBIDDEN),
    ),
    ("POST", "/console/logout"): (form("/console/logout"), everyone(TO_LOGIN)),
    ("GET", "/console/handoffs/{handoff_id}"): (
        plain("/console/handoffs/{handoff}"),
        console(ok(200, DISTRESS), ok(200, *EVERYTHING)),
    ),
    ("GET", "/console/handoffs/{handoff_id}/messages"): (
        plain("/console/handoffs/{handoff}/messages"),
        console(ok(200), ok(200, PHONE, UNMASKED)),
    ),
    ("GET", "/console/handoffs/{handoff_id}/calls"): (
        plain("/console/handoffs/{handoff}/calls"),
        console(ok(200), ok(200, PHONE)),
    ),
    ("POST", "/console/handoffs/{handoff_id}/claim"): (
        form("/console/handoffs/{handoff}/claim"),
        console(*[Outcome(303, "/console/handoffs/{handoff}")] * 2),
    ),
    ("POST", "/console/handoffs/{handoff_id}/reply"): (  # the case's handoff is claimed by its principal
        form("/console/handoffs/{handoff}/reply", text="Hello, I'm here to help."),
        console(*[Outcome(303, "/console/handoffs/{handoff}")] * 2),
    ),
    ("POST", "/console/handoffs/{handoff_id}/resolve"): (
        form("/console/handoffs/{handoff}/resolve", disposition="solved"),
        console(*[Outcome(303, "/console")] * 2),
    ),
    ("POST", "/console/handoffs/{handoff_id}/flags"): (
        form("/console/handoffs/{handoff}/flags", turn="1", label="anger"),
        console(*[Outcome(303, "/console/handoffs/{handoff}?notice=")] * 2),
    ),
    ("GET", "/console/flags"): (plain("/console/flags"), console(FORBIDDEN, ok(200, PHONE, UNMASKED))),
    ("POST", "/console/flags/{flag_id}"): (
        form("/console/flags/{flag}", decision="accept"),
        console(FORBIDDEN, Outcome(303, "/console/flags")),
    ),
    ("GET", "/console/audit"): (
        plain("/console/audit", params={"conversation": "+447700900123"}),
        console(FORBIDDEN, Outcome(200)),
    ),
    # --- the live console (handoff/console/live_views.py): streams are read up to their first event ----
    ("GET", "/console/events"): (plain("/console/events"), live(ok(200), ok(200))),
    ("GET", "/console/handoffs/{handoff_id}/events"): (
        plain("/console/handoffs/{handoff}/events"),
        live(ok(200), ok(200)),
    ),
    ("POST", "/console/handoffs/{handoff_id}/messages"): (  # the case's handoff is claimed by its principal
        form("/console/handoffs/{handoff}/messages", text="Hello, I'm here to help."),
        live(ok(200), ok(200)),
    ),
    ("POST", "/console/handoffs/{handoff_id}/typing"): (
        form("/console/handoffs/{handoff}/typing", active="1"),
        live(ok(200), ok(200)),
    ),
    # --- the agent workspace (handoff/workspace/; who edits is policy/workspace.yml's) ----------------
    ("GET", "/console/canned"): (plain("/console/canned"), console(ok(200), ok(200))),
    ("POST", "/console/canned"): (new_canned, console(FORBIDDEN, Outcome(303, "/console/canned"))),
    ("GET", "/console/canned/search"): (
        plain("/console/canned/search", params={"q": ""}),
        console(ok(200), ok(200)),
    ),
    # Past the permission an unknown response is 404: it shows the request got through the check.
    ("POST", "/console/canned/{canned_id}"): (
        form("/console/canned/999999", shortcut="x", title="x", body="x"),
        console(FORBIDDEN, Outcome(404)),
    ),
    ("GET", "/console/handoffs/{handoff_id}/notes"): (
        plain("/console/handoffs/{handoff}/notes"),
        console(ok(200), ok(200)),
    ),
    ("POST", "/console/handoffs/{handoff_id}/notes"): (
        form("/console/handoffs/{handoff}/notes", text="Checked the courier portal"),
        console(*[Outcome(303, "/console/handoffs/{handoff}")] * 2),
    ),
    ("POST", "/console/handoffs/{handoff_id}/transfer"): (  # the case's handoff is its principal's
        to_a_colleague,
        console(*[Outcome(303, "/console")] * 2),
    ),
    ("GET", "/console/team"): (plain("/console/team"), console(ok(200), ok(200))),
    ("GET", "/console/team.json"): (plain("/console/team.json"), console(ok(200), ok(200))),
    ("POST", "/console/presence"): (
        form("/console/presence", presence="away"),
        console(*[Outcome(303, "/console/team")] * 2),
    ),
    ("POST", "/console/agents/{agent_id}/capacity"): (
        form("/console/agents/1/capacity", capacity="3"),
        console(FORBIDDEN, Outcome(303, "/console/team")),
    ),
    # --- search, customer history, the resolved list (handoff/history/), assigning ----------------
    # Words of the case's transcript: the summary and the SMS conversation id show masked to an agent.
    ("GET", "/console/search"): (
        plain("/console/search", params={"q": "where is 55555"}),
        console(ok(200), ok(200, PHONE, UNMASKED)),
    ),
    ("GET", "/console/resolved"): (plain("/console/resolved"), console(ok(200), ok(200))),
    # The example's customer is not a verified one: the page says so and links nothing.
    ("GET", "/console/handoffs/{handoff_id}/history"): (
        plain("/console/handoffs/{handoff}/history"),
        console(ok(200), ok(200)),
    ),
    # Past the permission a claimed handoff cannot be assigned (409): the request got through the check.
    ("POST", "/console/handoffs/{handoff_id}/assign"): (
        form("/console/handoffs/{handoff}/assign", to="1"),
        console(FORBIDDEN, Outcome(409)),
    ),
    # --- the designer's playground (handoff/playground/): the designer and the admin ---------------
    # Typed messages and the policy, no customer data: what the bodies show is not checked.
    ("GET", "/console/playground"): (
        plain("/console/playground"),
        console(FORBIDDEN, FORBIDDEN, Outcome(200), designer=Outcome(200)),
    ),
    ("POST", "/console/playground/score"): (
        playground_json("/console/playground/score", {"turns": ["where is my order"]}),
        console(FORBIDDEN, FORBIDDEN, Outcome(200), designer=Outcome(200)),
    ),
    ("POST", "/console/playground/samples"): (
        playground_json("/console/playground/samples", {"edits": {}}),
        console(FORBIDDEN, FORBIDDEN, Outcome(200), designer=Outcome(200)),
    ),
    # Past the role a save from a stale page is 409: the request got through the check, and the shipped
    # policy file is left alone.
    ("POST", "/console/playground/save"): (
        playground_json("/console/playground/save", {"edits": {"tone.hysteresis": 0.09}, "version": "stale"}),
        console(FORBIDDEN, FORBIDDEN, Outcome(409), designer=Outcome(409)),
    ),
    ("GET", "/console/playground/static"): (
        plain("/console/playground/static/playground.js"),
        everyone(Outcome(200)),
    ),
    # --- the supervisor dashboard (handoff/dashboard/): supervisors and admins; counts, no conversation --
    ("GET", "/console/dashboard"): (plain("/console/dashboard"), console(FORBIDDEN, ok(200))),
    ("GET", "/console/dashboard/drift"): (plain("/console/dashboard/drift"), console(FORBIDDEN, ok(200))),
    ("GET", "/console/dashboard/{metric}.csv"): (
        plain("/console/dashboard/csat.csv"),
        console(FORBIDDEN, ok(200)),
    ),
    ("GET", "/console/experiments"): (plain("/console/experiments"), console(FORBIDDEN, ok(200))),
    ("GET", "/console/experiments/{experiment}"): (
        plain("/console/experiments/adaptive-tone-v1.json"),
        console(FORBIDDEN, ok(200)),
    ),
    ("GET", "/console/dashboard/static"): (
        plain("/console/dashboard/static/dashboard.css"),
        everyone(Outcome(200)),
    ),
    # --- public: static files, the customer's web chat and its switch, health --------------------
    ("GET", "/console/static"): (plain("/console/static/console.css"), everyone(Outcome(200))),
    ("GET", "/chat"): (plain("/chat"), everyone(Outcome(200))),
    # The switch needs no login or token: the signed session id is its proof (unsigned: 403).
    ("GET", "/chat/consent"): (web_switch("GET"), everyone(Outcome(200))),
    # The chat's live stream and typing hint: the signed session id, like the switch.
    ("GET", "/chat/events"): (signed_chat("/chat/events", "GET"), everyone(Outcome(200))),
    ("POST", "/chat/typing"): (signed_chat("/chat/typing", "POST"), everyone(Outcome(200))),
    ("POST", "/chat/consent"): (web_switch("POST", "off"), everyone(Outcome(200))),
    ("GET", "/healthz"): (plain("/healthz"), everyone(Outcome(200))),
    # Prometheus metrics: counts and timings by reason, priority, status and route pattern, no personal
    # data (tests/handoff/test_metrics.py checks), so open like /healthz; the body is checked to show none.
    ("GET", "/metrics"): (plain("/metrics"), everyone(ok(200))),
    # The OpenAPI description: open like /healthz; it names the payload's fields ("trajectory") but
    # holds no data, so what it "sees" is not checked.
    ("GET", "/api/v1/openapi.json"): (plain("/api/v1/openapi.json"), everyone(Outcome(200))),
    # --- Twilio's webhooks: its signature, nothing else, opens them ---------------------------
    ("POST", "/twilio/twiml/{job_id}"): (plain("/twilio/twiml/{job}"), everyone(FORBIDDEN)),
    ("POST", "/twilio/status/{job_id}"): (plain("/twilio/status/{job}"), everyone(FORBIDDEN)),
    # --- the API: the bearer token; what it shows is the policy's "api" --------------------------
    ("POST", "/api/v1/handoffs"): (post_json("/api/v1/handoffs", lambda: payload()), api(ok(201))),
    ("GET", "/api/v1/handoffs"): (plain("/api/v1/handoffs"), api(ok(200))),
    ("GET", "/api/v1/handoffs/{handoff_id}"): (plain("/api/v1/handoffs/{handoff}"), api(ok(200, DISTRESS))),
    ("POST", "/api/v1/handoffs/{handoff_id}/callbacks"): (
        post_json(
            "/api/v1/handoffs/{handoff}/callbacks", {"to": "07911 123456", "idempotency_key": "again-1"}
        ),
        api(ok(201)),
    ),
    # Past the token an empty entry is refused: 400 shows the request got through the check.
    ("POST", "/api/v1/audit"): (post_json("/api/v1/audit", {}), api(Outcome(400))),
    # The same for a CSAT answer: an empty one is refused past the token.
    ("POST", "/api/v1/csat"): (post_json("/api/v1/csat", {}), api(Outcome(400))),
    ("POST", "/api/v1/customers/resolve"): (
        post_json("/api/v1/customers/resolve", {"identities": SESSION}),
        api(Outcome(200)),
    ),
    ("POST", "/api/v1/customers/consent"): (
        post_json("/api/v1/customers/consent", {"identities": SESSION, "emotion_processing": "off"}),
        api(Outcome(200)),
    ),
    ("GET", "/api/v1/customers/{customer_id}/consent"): (consent_of_a_customer, api(Outcome(200))),
    # Past the token an unknown merge is 404: it shows the request got through the check.
    ("POST", "/api/v1/customers/merges/{merge_id}/undo"): (
        post_json("/api/v1/customers/merges/no-such-merge/undo", {}),
        api(Outcome(404)),
    ),
}


def payload() -> dict[str, Any]:
    """The example handoff from an SMS customer, with personal data in every text an agent reads."""
    document = copy.deepcopy(json.loads(EXAMPLE_FILE.read_text()))
    pii = "ada@example.com, 07700 900123, 12 Acacia Avenue"
    document["idempotency_key"] = uuid.uuid4().hex
    document["conversation_id"] = "sms:+447700900123"
    document["summary"] += f" Customer: {pii}."
    document["transcript"][0]["text"] = f"where is 55555? I'm {pii}"
    document["emotions"][2]["text"] = f"yes!! {pii}"
    return document


@pytest.fixture
async def service(aiohttp_client, aiohttp_server, settings: Settings) -> TestClient:
    fake = FakeRasa()
    fake.events.append({"event": "user", "text": "call me on 07700 900123 at 12 Acacia Avenue"})
    rasa = await aiohttp_server(fake.app())
    configured = dataclasses.replace(
        settings,
        api_token=API_TOKEN,
        rasa_url=str(rasa.make_url("")).rstrip("/"),
        rasa_token="rasa-token",
        demo_password=PASSWORD,
        callback_daily_limit=100,  # every case books a call-back to the same number
    )
    return await aiohttp_client(create_app(configured))


def agent_id(service: TestClient, username: str) -> int:
    with Session(service.app[ENGINE]) as session:
        return int(session.execute(select(Agent.id).where(Agent.username == username)).scalar_one())


async def new_case(aiohttp_client, service: TestClient, principal: str) -> Case:
    engine = service.app[ENGINE]
    created = await service.post("/api/v1/handoffs", json=payload(), headers=AUTH)
    handoff_id = str((await created.json())["id"])
    flag = feedback.flag_reading(engine, handoff_id, 3, "anger", agent_id(service, "agent"))
    job = call_jobs.request_call(engine, handoff_id, CALLBACK_NUMBER, f"call-{handoff_id}")
    client = await aiohttp_client(service.server)
    if principal == TOKEN:
        client.session.headers.update(AUTH)  # on every request, and no console session
    case = Case(principal, client, service, handoff_id, flag.id, job.id)
    if principal in CONSOLE_USERS:
        case.csrf = await log_in(client, principal, PASSWORD)
    # The agent holds the anonymous, token and own cases (its capacity is 3); the supervisor the designer's.
    holder = (
        principal if principal in AGENT_CONSOLE_USERS else "supervisor" if principal == DESIGNER else "agent"
    )
    handoffs.claim(engine, handoff_id, agent_id(service, holder))
    return case


def registered(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every route; HEAD is aiohttp's twin of each GET and shares its row."""
    routes = {(route.method, route.resource.canonical) for route in app.router.routes()}
    heads = {path for method, path in routes if method == "HEAD"}
    assert heads <= {path for method, path in routes if method == "GET"}, "a HEAD route without a GET"
    return {(method, path) for method, path in routes if method != "HEAD"}


def test_every_route_has_a_decision(settings: Settings) -> None:
    routes = registered(create_app(settings))

    assert sorted(routes - set(EXPECTED)) == [], "new routes: add their rows to EXPECTED"
    assert sorted(set(EXPECTED) - routes) == [], "rows for routes that no longer exist"
    assert all(set(outcomes) == set(PRINCIPALS) for _, outcomes in EXPECTED.values())


def shows(body: str) -> frozenset[str]:
    return frozenset(kind for kind, markers in MARKERS.items() if any(m in body for m in markers))


@pytest.mark.parametrize("route", sorted(EXPECTED), ids=" ".join)
async def test_each_principal_gets_what_the_policy_says(
    aiohttp_client, service: TestClient, route: tuple[str, str]
) -> None:
    build, outcomes = EXPECTED[route]
    method = route[0]
    wrong = []
    for principal in PRINCIPALS:
        case = await new_case(aiohttp_client, service, principal)
        path, kwargs = await build(case)
        response = await case.client.request(method, path, allow_redirects=False, **kwargs)
        if response.content_type == "text/event-stream":  # a live stream never ends: its first event
            body = (await response.content.readany()).decode()
            response.close()
        else:
            body = await response.text()
        expected = outcomes[principal]
        got: dict[str, Any] = {"status": response.status}
        want: dict[str, Any] = {"status": expected.status}
        if expected.location is not None:  # a prefix: notices and errors ride in the query
            want["location"] = expected.location.format(handoff=case.handoff_id)
            got["location"] = response.headers.get("Location", "")[: len(want["location"])]
        if expected.sees is not None:
            got["sees"], want["sees"] = sorted(shows(body)), sorted(expected.sees)
        if got != want:
            wrong.append(f"{principal}: expected {want}, got {got}: {body[:200]!r}")

    assert wrong == []


# --- the policy is configuration ---------------------------------------------------------------
STRICT = """
distress_indicators: [supervisor, admin]
phone_numbers: [agent, supervisor, admin, api]
unmasked_transcripts: [supervisor, admin, api]
review_flags: [supervisor, admin]
audit_log: [admin]
"""


async def test_another_policy_file_changes_who_sees_what(
    aiohttp_client, service: TestClient, tmp_path: Path
) -> None:
    policy = tmp_path / "strict.yml"
    policy.write_text(STRICT)
    app = await aiohttp_client(
        create_app(dataclasses.replace(service.app[SETTINGS], access_policy_file=str(policy)))
    )
    created = await app.post("/api/v1/handoffs", json=payload(), headers=AUTH)
    handoff_id = (await created.json())["id"]
    token = await log_in(app, "agent", PASSWORD)

    page = await (await app.get(f"/console/handoffs/{handoff_id}")).text()
    flagged = await app.post(
        f"/console/handoffs/{handoff_id}/flags",
        data={"csrf_token": token, "turn": "3", "label": "anger"},
        allow_redirects=False,
    )
    supervisor = await aiohttp_client(app.server)
    await log_in(supervisor, "supervisor", PASSWORD)
    audit_page = await supervisor.get("/console/audit")
    from_api = await (await app.get(f"/api/v1/handoffs/{handoff_id}", headers=AUTH)).text()

    assert shows(page) == {PHONE}
    assert access.WITHHELD_NOTE in page and "frustration 0.65" not in page
    assert flagged.status == 403
    assert audit_page.status == 403
    assert shows(from_api) == {PHONE, UNMASKED}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("distress_indicators: [agent]\n", "'phone_numbers' is missing"),
        (STRICT + "see_everything: [agent]\n", "unknown key 'see_everything'"),
        (STRICT.replace("[admin]", "[admin, boss]"), "'audit_log' names 'boss'"),
        (
            STRICT.replace("review_flags: [supervisor, admin]", "review_flags: [api]"),
            "'review_flags' names 'api'",
        ),
        (STRICT.replace("[admin]", "admin"), "'audit_log' must be a list of roles"),
        ("- agent\n", "must be a mapping"),
        (STRICT + "empathy_playground: [api]\n", "'empathy_playground' names 'api'"),
        (STRICT + "agent_console: [nobody]\n", "'agent_console' names 'nobody'"),
        ("distress_indicators: [agent\n", "not valid YAML"),
    ],
)
def test_a_wrong_policy_stops_the_service_naming_the_key(
    settings: Settings, tmp_path: Path, document: str, message: str
) -> None:
    policy = tmp_path / "access.yml"
    policy.write_text(document)

    with pytest.raises(ConfigError, match=message):
        create_app(dataclasses.replace(settings, access_policy_file=str(policy)))


def test_the_policy_file_comes_from_the_environment(tmp_path: Path) -> None:
    assert Settings.from_env({"ATTUNE_SESSION_KEY": "k" * 32}).access_policy_file is None
    assert Settings.from_env(
        {"ATTUNE_SESSION_KEY": "k" * 32, "ATTUNE_ACCESS_POLICY": str(tmp_path / "a.yml")}
    ).access_policy_file == str(tmp_path / "a.yml")
    with pytest.raises(ConfigError, match="ATTUNE_ACCESS_POLICY: cannot read"):
        access.load(tmp_path / "missing.yml")


def test_a_policy_from_before_the_playground_gets_the_documented_defaults() -> None:
    policy = access.parse(yaml.safe_load(STRICT), "old.yml")

    assert policy.allows("agent", access.AGENT_CONSOLE) and not policy.allows(
        "designer", access.AGENT_CONSOLE
    )
    assert policy.allows("designer", access.EMPATHY_PLAYGROUND) and policy.allows(
        "admin", access.EMPATHY_PLAYGROUND
    )
    assert not policy.allows("supervisor", access.EMPATHY_PLAYGROUND)


def test_the_default_policy() -> None:
    policy = access.load()

    assert policy.grants("agent") == {access.DISTRESS_INDICATORS, access.AGENT_CONSOLE}
    assert policy.grants("supervisor") == set(access.CAPABILITIES) - {access.EMPATHY_PLAYGROUND}
    assert policy.grants("admin") == set(access.CAPABILITIES)
    assert policy.grants("designer") == {access.EMPATHY_PLAYGROUND}
    assert policy.grants(access.API) == {access.DISTRESS_INDICATORS}
    assert policy.grants("someone") == frozenset()
