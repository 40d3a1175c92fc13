"""Property-based fuzzing of every route of the handoff service, driven by its OpenAPI description.

The service runs for real on a loopback port (aiohttp's AppRunner in a thread with its own loop),
on a SQLite file, with the bearer token, a logged-in console session (and its CSRF token) and
Twilio signatures computed for each request, so generated requests reach the code behind the
checks, not only the 401s.  Each route family gets ``ATTUNE_FUZZ_EXAMPLES`` cases (default 100;
``make fuzz`` sets 10 000), drawn from:

- schemathesis' positive and negative cases of every operation of the family (handoff/openapi.json);
- hostile bytes: invalid UTF-8, lone surrogates, NaN and Infinity, 10 000-deep nesting, 5 001-digit
  integers, NUL and control characters, percent-encoded garbage in paths, queries and forms,
  wrong and bogus content types, planted in valid bodies of the route and sent raw.

Asserted: no response is a 5xx, every handoff the service accepts can be read back as strict JSON
and shown in the console, and the service still answers /healthz at the end.  The number of cases
per family is printed.
"""

import json
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from twilio.request_validator import RequestValidator

from handoff.app import create_app
from handoff.core import json_body
from handoff.core.settings import Settings
from handoff.openapi import document
from handoff.shared.identity_tokens import issue_session_id
from handoff.shared.schema_file import EXAMPLE_FILE
from tests.support.console import csrf
from tests.support.handoff_server import ServerThread
from tests.support.ports import free_port

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("ATTUNE_FUZZ_EXAMPLES", "100"))
TOKEN = "fuzz-token-0123456789"
SESSION_KEY = "fuzz-session-key-0123456789abcdef"
TWILIO_TOKEN = "fuzz-twilio-auth-token"
DEMO_PASSWORD = "fuzz-demo-password"
SESSION_COOKIE = "attune_session"
ROOT = Path(__file__).resolve().parents[2]

# Every route of the description belongs to exactly one family (test_every_route_is_in_one_family).
FAMILIES: dict[str, tuple[str, ...]] = {
    "handoffs": (
        "/api/v1/handoffs",
        "/api/v1/handoffs/{handoff_id}",
        "/api/v1/handoffs/{handoff_id}/callbacks",
    ),
    "customers": (
        "/api/v1/customers/resolve",
        "/api/v1/customers/consent",
        "/api/v1/customers/{customer_id}/consent",
        "/api/v1/customers/merges/{merge_id}/undo",
        "/chat/consent",
    ),
    "audit": ("/api/v1/audit",),
    "csat": ("/api/v1/csat",),
    "twilio": ("/twilio/twiml/{job_id}", "/twilio/status/{job_id}"),
    "console": (
        "/console",
        "/console/login",
        "/console/logout",
        "/console/handoffs/{handoff_id}",
        "/console/handoffs/{handoff_id}/messages",
        "/console/handoffs/{handoff_id}/calls",
        "/console/handoffs/{handoff_id}/claim",
        "/console/handoffs/{handoff_id}/reply",
        "/console/handoffs/{handoff_id}/resolve",
        "/console/handoffs/{handoff_id}/flags",
        "/console/flags",
        "/console/flags/{flag_id}",
        "/console/audit",
        "/console/static/{filename}",
        "/chat",
        "/console/canned",
        "/console/canned/search",
        "/console/canned/{canned_id}",
        "/console/handoffs/{handoff_id}/notes",
        "/console/handoffs/{handoff_id}/transfer",
        "/console/team",
        "/console/team.json",
        "/console/presence",
        "/console/agents/{agent_id}/capacity",
        "/console/search",
        "/console/resolved",
        "/console/handoffs/{handoff_id}/history",
        "/console/handoffs/{handoff_id}/assign",
        "/console/events",
        "/console/handoffs/{handoff_id}/events",
        "/console/handoffs/{handoff_id}/typing",
        "/chat/events",
        "/chat/typing",
    ),
    # The designer's playground: a save needs the version of the policy file the page started from, so
    # generated saves are refused (409) and the shipped policy is never written.
    "playground": (
        "/console/playground",
        "/console/playground/score",
        "/console/playground/samples",
        "/console/playground/save",
        "/console/playground/static/{filename}",
    ),
    # The supervisor dashboard: periods and channels are checked (400), unknown metrics are 404; so are
    # experiments' names (400 when not a name, 404 when not in the file).
    "dashboard": (
        "/console/dashboard",
        "/console/dashboard/drift",
        "/console/dashboard/{metric}.csv",
        "/console/dashboard/static/{filename}",
        "/console/experiments",
        "/console/experiments/{experiment}",
    ),
    "operations": ("/healthz", "/metrics", "/api/v1/openapi.json"),
}


@dataclass
class Service:
    url: str
    thread: ServerThread
    http: requests.Session
    session_token: str
    csrf: str
    handoff_id: str
    job_id: str
    customer_id: str
    merge_id: str
    chat_session: str
    statuses: Counter[int] = field(default_factory=Counter)


def _example() -> dict[str, Any]:
    return json.loads(EXAMPLE_FILE.read_text())


def _login(http: requests.Session, url: str) -> tuple[str, str]:
    page = http.get(f"{url}/console/login", timeout=30)
    form = {"csrf_token": csrf(page.text), "username": "admin", "password": DEMO_PASSWORD}
    answer = http.post(f"{url}/console/login", data=form, allow_redirects=False, timeout=30)
    assert answer.status_code == 303, answer.text
    queue = http.get(f"{url}/console", timeout=30)
    return http.cookies[SESSION_COOKIE], csrf(queue.text)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    tmp = tmp_path_factory.mktemp("fuzz")
    policy = tmp / "empathy.yml"  # the playground's saves, if one ever got through, land in a copy
    shutil.copyfile(ROOT / "policy" / "empathy.yml", policy)
    settings_ = Settings(
        empathy_policy_file=str(policy),
        database_url=f"sqlite:///{tmp / 'handoff.db'}",
        log_format="text",
        log_level="CRITICAL",
        api_token=TOKEN,
        session_key=SESSION_KEY,
        demo_password=DEMO_PASSWORD,
        twilio_auth_token=TWILIO_TOKEN,  # no account SID: call-backs are simulated, nobody is called
        public_url=url,
        rasa_url=f"http://127.0.0.1:{free_port()}",  # nothing listens: Rasa is "unavailable"
    )
    thread = ServerThread(create_app(settings_), port)
    thread.start()
    assert thread.ready.wait(120) and thread.error is None, thread.error
    http = requests.Session()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    payload = _example()
    payload["callback"] = {
        "requested": True,
        "phone_masked": "••••123",
        "phone": "+447911123456",
        "consent_at": "2026-03-10T12:00:00+00:00",
        "window": None,
    }
    answer = http.post(f"{url}/api/v1/handoffs", json=payload, headers=auth, timeout=30)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    session_token, csrf = _login(http, url)
    http.post(
        f"{url}/console/handoffs/{created['id']}/flags",
        data={"csrf_token": csrf, "turn": "1", "label": "anger"},
        allow_redirects=False,
        timeout=30,
    )
    identities = {"identities": [{"kind": "session", "value": "rest:fuzz-session"}]}
    customer = http.post(f"{url}/api/v1/customers/resolve", json=identities, headers=auth, timeout=30).json()
    merge_id = _seeded_merge(http, url, auth)
    yield Service(
        url,
        thread,
        http,
        session_token,
        csrf,
        created["id"],
        created["callback"]["id"],
        customer["customer"],
        merge_id,
        issue_session_id(SESSION_KEY),
    )
    thread.stop()


def _seeded_merge(http: requests.Session, url: str, auth: dict[str, str]) -> str:
    """Two customers asserted together by the authenticated API: a merge the fuzzer may try to undo."""
    first, second = {"kind": "id", "value": "fuzz-a"}, {"kind": "id", "value": "fuzz-b"}
    for identities in ([first], [second], [first, second]):
        answer = http.post(
            f"{url}/api/v1/customers/resolve", json={"identities": identities}, headers=auth, timeout=30
        )
        assert answer.status_code == 200, answer.text
    customer = answer.json()["customer"]
    log = http.get(f"{url}/api/v1/customers/{customer}/consent", headers=auth, timeout=30).json()
    return str(log["merges"][0]["id"])


# --- sending ---------------------------------------------------------------------------------
def _sign(prepared: requests.PreparedRequest) -> None:
    body = prepared.body or b""
    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        form = dict(parse_qsl(text, keep_blank_values=True, errors="strict"))
    except (UnicodeDecodeError, ValueError):
        return  # the service refuses the form before it looks at a signature
    prepared.headers["X-Twilio-Signature"] = RequestValidator(TWILIO_TOKEN).compute_signature(
        str(prepared.url), form
    )


def _credentials(service: Service, prepared: requests.PreparedRequest, path: str) -> None:
    prepared.headers["Authorization"] = f"Bearer {TOKEN}"
    prepared.headers["Cookie"] = f"{SESSION_COOKIE}={service.session_token}"
    if path.startswith("/twilio/"):
        _sign(prepared)


def _send(service: Service, prepared: requests.PreparedRequest) -> requests.Response:
    response = service.http.send(prepared, allow_redirects=False, timeout=60, stream=True)
    if response.headers.get("Content-Type", "").startswith("text/event-stream"):
        # A live stream never ends (heartbeats keep the read timeout from firing): its first event is
        # the body checked here.
        first = next(response.iter_content(chunk_size=None), b"")
        response.close()
        response._content, response._content_consumed = first, True
    else:
        response.content  # noqa: B018 - read the whole body now, as without stream=True
    service.statuses[response.status_code] += 1
    assert response.status_code < 500, (
        f"{prepared.method} {prepared.url} -> {response.status_code}: {response.text[:500]}"
    )
    return response


_REQUEST_KEYS = ("method", "url", "headers", "files", "data", "params", "cookies", "json")


def _known_ids(service: Service) -> dict[str, str]:
    return {
        "handoff_id": service.handoff_id,
        "job_id": service.job_id,
        "customer_id": service.customer_id,
        "merge_id": service.merge_id,
        "flag_id": "1",
        "filename": "console.css",
    }


def _send_case(service: Service, case: schemathesis.Case, real: bool, known: bool) -> requests.Response:
    if known:  # reach the code behind the lookup, not only its 404
        ids = _known_ids(service)
        for name in list(case.path_parameters or {}):
            if name in ids:
                case.path_parameters[name] = ids[name]
    kwargs = case.as_transport_kwargs(base_url=service.url)
    body = kwargs.get("json")
    if real and isinstance(body, dict) and "Idempotency-Key" in kwargs["headers"]:
        key = str(body.get("idempotency_key"))  # the header must repeat the payload's key
        kwargs["headers"]["Idempotency-Key"] = key if key.isascii() else "not-the-payload-key"
    data = kwargs.get("data")
    if real and isinstance(data, dict) and "csrf_token" in data and not case.path.endswith("/logout"):
        data["csrf_token"] = service.csrf  # keep the session: logout is fuzzed without a valid token
    if real:
        kwargs["cookies"] = {}
    prepared = requests.Request(**{k: v for k, v in kwargs.items() if k in _REQUEST_KEYS}).prepare()
    if real:
        _credentials(service, prepared, case.path)
    return _send(service, prepared)


def _check_readable(service: Service, response: requests.Response, path: str, method: str) -> None:
    """A handoff the service accepted is served as strict JSON and shown in the console."""
    if (path, method, response.status_code) != ("/api/v1/handoffs", "POST", 201):
        return
    handoff_id = response.json()["id"]
    served = service.http.get(
        f"{service.url}/api/v1/handoffs/{handoff_id}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=60,
    )
    assert served.status_code == 200, served.text[:500]
    json_body.parse(served.content)  # no NaN, no surrogates, bounded: what any client can read
    page = service.http.get(
        f"{service.url}/console/handoffs/{handoff_id}",
        cookies={SESSION_COOKIE: service.session_token},
        allow_redirects=False,
        timeout=60,
    )
    assert page.status_code == 200, page.text[:500]


# --- hostile bytes ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Raw:
    method: str
    template: str
    path: str
    query: str
    body: bytes
    content_type: str | None


SENTINEL = "\u0001planted\u0001"
# Raw JSON text planted where a value of a valid body was.
PLANTED = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "1" * 5001,
    "1" * 65,
    "0." + "1" * 100,
    '"\\udfff"',
    '"x\\ud800y"',
    '"\\u0000"',
    '"a\\u0000b"',
    '"\\u202eevil"',
    '"a\\nb"',
    '"yesterday"',
    '"9999-12-31T23:59:59-23:59"',
    '"0001-01-01T00:00:00+23:59"',
    '"2026-02-30T00:00:00Z"',
    "[" * 33 + "]" * 33,
    "[" * 10_000 + "]" * 10_000,
    '{"a":' * 900 + "1" + "}" * 900,
    "-1",
    "1e308",
    "10000000000000000000",
    "null",
    "true",
    "{}",
    "[]",
    '"' + "x" * 30_000 + '"',
    '"²"',
]
SEGMENTS = [
    "%00",
    "%FF",
    "%ED%BF%BF",
    "%E2%80%AE",
    "%0D%0Aset-cookie:x",
    "a" * 5000,
    "%C2%B2",
    "9" * 30,
    "..",
    "%2E%2E%2F%2E%2E",
    "%25",
    " ",
    "%F0%9F%98%80",
]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=latin-1",
    "application/json; charset=bogus",
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=bogus",
    "multipart/form-data",
    "multipart/form-data; boundary=x",
    "text/plain",
    None,
]
RAW_BODIES = [
    b"\xff\xfe\x00",
    b'{"summary": "\xed\xbf\xbf"}',
    b'{"a": "\xc3\x28"}',
    b"\xef\xbb\xbf{}",
    b"[" * 100_000,
    b"{" * 50_000,
    b"csrf_token=%FF&text=%00",
    b"\xff=\xfe",
    b"a=1&" * 2000,
    b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\r\n--x--\r\n',
    b"",
]


def _scalar_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [path] + [p for k, v in value.items() for p in _scalar_paths(v, (*path, k))]
    if isinstance(value, list):
        return [path] + [p for i, v in enumerate(value) for p in _scalar_paths(v, (*path, i))]
    return [path]


def _planted(template: Any, path: tuple[Any, ...], raw: str, key: str) -> bytes:
    """``template`` as JSON with the value at ``path`` replaced by the raw JSON text ``raw``."""
    document_ = json.loads(json.dumps(template))
    if isinstance(document_, dict) and "idempotency_key" in document_:
        document_["idempotency_key"] = key  # a fresh handoff, so the planted value reaches the checks
    if not path:
        return raw.encode("utf-8", "surrogatepass")
    parent = document_
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = SENTINEL
    text = json.dumps(document_, ensure_ascii=False).replace(json.dumps(SENTINEL, ensure_ascii=False), raw)
    return text.encode("utf-8", "surrogatepass")


def _templates(service: Service) -> dict[str, Any]:
    identities = [
        {"kind": "session", "value": "web:" + "f" * 32},
        {"kind": "phone", "value": "+447911123457"},
    ]
    return {
        "/api/v1/handoffs": _example(),
        "/api/v1/handoffs/{handoff_id}/callbacks": {
            "to": "+447911123456",
            "idempotency_key": "callback-fuzz",
        },
        "/api/v1/customers/resolve": {"identities": identities},
        "/api/v1/customers/consent": {
            "identities": identities,
            "emotion_processing": "off",
            "channel": "api",
            "source": "api",
        },
        "/chat/consent": {"session_id": service.chat_session, "emotion_processing": "on"},
        "/api/v1/csat": {
            "answer_id": "fuzz-csat-answer-1",
            "conversation_id": "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f",
            "score": 4,
            "comment": "quick and friendly",
        },
        "/api/v1/audit": {
            "key": "fuzz-audit-1",
            "conversation_id": "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f",
            "customer": "cust-eb3b0c332dcd5989",
            "kind": "handoff",
            "actor": "empathy engine",
            "summary": "handed off",
            "explanation": {"reasons": ["asked for a person"]},
            "inputs": {"turn": 3},
            "sources": ["rules"],
            "opted_out": False,
            "created_at": "2026-03-10T12:00:00+00:00",
        },
    }


FORMS = {
    "/console/login": {"csrf_token": "x", "username": "admin", "password": DEMO_PASSWORD},
    "/console/handoffs/{handoff_id}/reply": {"text": "hello"},
    "/console/handoffs/{handoff_id}/flags": {"turn": "1", "label": "anger"},
    "/console/flags/{flag_id}": {"decision": "reject"},
    "/twilio/status/{job_id}": {"CallStatus": "completed", "CallSid": "CA" + "0" * 32},
}


@st.composite
def hostile(draw: st.DrawFn, service: Service, routes: list[tuple[str, str]]) -> Raw:
    method, template = draw(st.sampled_from(routes))
    ids = _known_ids(service)

    def segment(match: re.Match[str]) -> str:
        choice = draw(
            st.one_of(
                st.just(ids.get(match[1], "x")),
                st.sampled_from(SEGMENTS),
                st.binary(max_size=40).map(lambda b: quote(b, safe="")),
            )
        )
        return str(choice)

    path = re.sub(r"\{(\w+)\}", segment, template)
    query = draw(
        st.one_of(
            st.just(""),
            st.sampled_from(["limit=%C2%B2", "limit=" + "1" * 5000, "status=%FF", "session_id=a%00b"]),
            st.sampled_from(["conversation", "session_id", "limit", "status", "notice", "error"]).flatmap(
                lambda name: st.binary(max_size=60).map(lambda b: f"{name}={quote(b, safe='')}")
            ),
        )
    )
    templates = _templates(service)
    bodies: list[st.SearchStrategy[bytes]] = [st.sampled_from(RAW_BODIES), st.binary(max_size=200)]
    if template in templates:
        paths = _scalar_paths(templates[template])
        key = draw(st.text("0123456789abcdef", min_size=16, max_size=16))
        bodies.append(
            st.tuples(st.sampled_from(paths), st.sampled_from(PLANTED)).map(
                lambda pair: _planted(templates[template], pair[0], pair[1], f"fuzz-{key}")
            )
        )
    if template in FORMS or method == "POST":
        fields = dict(FORMS.get(template, {}))
        # The real token, except for logout: the session must last the whole run (as in _send_case).
        fields["csrf_token"] = "stale-token" if template == "/console/logout" else service.csrf
        name = draw(st.sampled_from(sorted(fields)))
        bodies.append(
            st.binary(max_size=60).map(
                lambda b: "&".join(
                    f"{k}={quote(b, safe='') if k == name else quote(v, safe='')}" for k, v in fields.items()
                ).encode()
            )
        )
    return Raw(method, template, path, query, draw(st.one_of(*bodies)), draw(st.sampled_from(CONTENT_TYPES)))


def _send_raw(service: Service, raw: Raw, real: bool) -> requests.Response:
    headers = {"Content-Type": raw.content_type} if raw.content_type else {}
    prepared = requests.Request(raw.method, service.url + "/x", headers=headers, data=raw.body).prepare()
    prepared.url = service.url + raw.path + (f"?{raw.query}" if raw.query else "")
    if real:
        _credentials(service, prepared, raw.template)
    return _send(service, prepared)


# --- the tests -------------------------------------------------------------------------------
def _operations() -> list[tuple[str, str]]:
    return [(path, method.upper()) for path, item in document()["paths"].items() for method in item]


def test_every_route_is_in_one_family() -> None:
    described = {path for path, _ in _operations()}
    families = [path for paths in FAMILIES.values() for path in paths]

    assert sorted(families) == sorted(described)
    assert len(families) == len(set(families))


def _strategy(service: Service, family: str) -> st.SearchStrategy[tuple[str, Any, bool, bool]]:
    schema = schemathesis.openapi.from_dict(document())
    routes = [(method, path) for path, method in _operations() if path in FAMILIES[family]]
    generated = [
        schema[path][method].as_strategy(generation_mode=mode).map(lambda case, m=mode: (m.value, case))
        for method, path in routes
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]
    return st.tuples(
        st.one_of(*generated, hostile(service, routes).map(lambda raw: ("hostile bytes", raw))),
        st.integers(0, 9).map(lambda n: n != 9),  # most cases carry real credentials (Hypothesis favours 0)
        st.integers(0, 9).map(lambda n: n < 5),  # half name the seeded handoff, job, customer, flag
    ).map(lambda drawn: (*drawn[0], drawn[1], drawn[2]))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_no_generated_request_gets_a_5xx(
    service: Service, family: str, capsys: pytest.CaptureFixture[str]
) -> None:
    kinds: Counter[str] = Counter()
    service.statuses.clear()
    started = time.monotonic()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    @given(_strategy(service, family))
    def run(drawn: tuple[str, Any, bool, bool]) -> None:
        kind, request, real, known = drawn
        kinds[kind] += 1
        if isinstance(request, Raw):
            _send_raw(service, request, real)
        else:
            response = _send_case(service, request, real, known)
            if real:
                _check_readable(service, response, request.path, request.method.upper())

    run()
    health = service.http.get(f"{service.url}/healthz", timeout=30)
    sources = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    with capsys.disabled():
        print(
            f"\nfuzz {family}: {sum(kinds.values())} cases ({sources}) in {time.monotonic() - started:.1f} s;"
            f" statuses {dict(sorted(service.statuses.items()))}"
        )
    assert service.thread.is_alive() and health.status_code == 200
    assert sum(kinds.values()) >= min(EXAMPLES, 1)
    # The console session lasted the run, so console cases reached the views behind the login.
    queue = requests.get(
        f"{service.url}/console",
        cookies={SESSION_COOKIE: service.session_token},
        allow_redirects=False,
        timeout=30,
    )
    assert queue.status_code == 200
