"""Regression tests for the findings of issue 12 about the handoff API: each input below used to get
a 500, or was stored and broke the console, the API or the metrics afterwards.  Now each is a 4xx
in the error shape, and whatever is stored renders.
"""

import copy
import dataclasses
import json
import math
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.orm import Session
from yarl import URL

from handoff.app import create_app
from handoff.core.app_keys import ENGINE
from handoff.core.json_body import parse
from handoff.core.models import Handoff
from handoff.core.settings import Settings
from handoff.shared.errors import HandoffError
from handoff.shared.payload_contract import ContractError, validate_payload
from handoff.shared.schema_file import EXAMPLE_FILE
from tests.support.console import log_in

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}
PASSWORD = "demo-password-123"


def example(**changes: Any) -> dict[str, Any]:
    payload = copy.deepcopy(json.loads(EXAMPLE_FILE.read_text()))
    payload.update(changes)
    return payload


def deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.fixture
async def client(aiohttp_client, settings: Settings) -> TestClient:
    return await aiohttp_client(
        create_app(dataclasses.replace(settings, api_token=TOKEN, demo_password=PASSWORD))
    )


async def refused(response: Any, status: int = 400) -> dict[str, Any]:
    """The error body of a refused request, after checking its status and shape."""
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error", "detail"}
    return dict(body)


async def post_raw(client: TestClient, path: str, text: str | bytes) -> Any:
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return await client.post(path, data=data, headers=JSON)


# --- 500 on bad input ---------------------------------------------------------------------
async def test_invalid_utf8_in_a_json_body_is_a_400(client: TestClient) -> None:
    body = json.dumps(example()).encode()[:-1] + b', "summary": "\xff\xfe"}'

    problem = await refused(await post_raw(client, "/api/v1/handoffs", body))

    assert problem["error"] == "invalid_encoding" and "UTF-8" in problem["detail"]


async def test_a_lone_surrogate_in_the_summary_is_a_400_naming_the_field(client: TestClient) -> None:
    text = json.dumps(example(summary="help \udfff"))  # written as the escape "\udfff"

    problem = await refused(await post_raw(client, "/api/v1/handoffs", text))

    assert problem["error"] == "invalid_encoding" and problem["detail"].startswith("summary:")


async def test_a_lone_surrogate_in_the_conversation_id_is_a_400(client: TestClient) -> None:
    text = json.dumps(example(conversation_id="conv-\ud800"))

    problem = await refused(await post_raw(client, "/api/v1/handoffs", text))

    assert "conversation_id" in problem["detail"]


async def test_a_lone_surrogate_in_customers_resolve_is_a_400(client: TestClient) -> None:
    text = json.dumps({"identities": [{"kind": "session", "value": "s-\udfff"}]})

    problem = await refused(await post_raw(client, "/api/v1/customers/resolve", text))

    assert problem["detail"].startswith("identities[0].value:")


async def test_ten_thousand_levels_of_nesting_are_a_400(client: TestClient) -> None:
    for text in ("[" * 10_000 + "]" * 10_000, '{"a":' * 10_000 + "1" + "}" * 10_000):
        problem = await refused(await post_raw(client, "/api/v1/handoffs", text))
        assert problem["error"] == "invalid_json" and "deeper than 32" in problem["detail"]


async def test_a_5001_digit_integer_is_a_400(client: TestClient) -> None:
    text = json.dumps(example())[:-1] + ', "slots": {"order_id": ' + "1" * 5001 + "}}"

    problem = await refused(await post_raw(client, "/api/v1/handoffs", text))

    assert problem["error"] == "invalid_json" and "5001 characters" in problem["detail"]


async def test_a_call_back_window_starting_at_x_is_a_400(client: TestClient) -> None:
    callback = {
        "requested": True,
        "phone_masked": "•••••••3456",
        "phone": "+447911123456",
        "consent_at": "2026-03-10T12:00:00+00:00",
        "window": {"start": "x", "end": "2026-03-10T13:00:00+00:00"},
    }

    problem = await refused(
        await client.post("/api/v1/handoffs", json=example(callback=callback), headers=AUTH)
    )

    assert "callback.window.start" in problem["detail"]


@pytest.mark.parametrize(
    "path, text",
    [
        ("/api/v1/handoffs", '{"summary": NaN}'),
        ("/api/v1/handoffs", '{"summary": Infinity}'),
        ("/api/v1/handoffs", '{"summary": 1e999}'),
        ("/api/v1/audit", "{" * 100),
        ("/api/v1/customers/consent", b'{"identities": "\xc3\x28"}'),
        ("/chat/consent", '{"session_id": "s-\\udfff", "emotion_processing": "off"}'),
        ("/api/v1/handoffs/nope/callbacks", '{"to": -Infinity}'),
    ],
    ids=["nan", "infinity", "1e999", "100-deep", "bad-utf8", "surrogate", "minus-infinity"],
)
async def test_every_json_route_reads_its_body_through_the_same_checks(
    client: TestClient, path: str, text: str | bytes
) -> None:
    problem = await refused(await post_raw(client, path, text))

    assert problem["error"] in ("invalid_json", "invalid_encoding")


async def test_a_body_over_the_limit_is_a_413_in_the_error_shape(client: TestClient) -> None:
    problem = await refused(await post_raw(client, "/api/v1/audit", b" " * (1024**2 + 1)), status=413)

    assert problem["error"] == "request_entity_too_large"


# --- accepted although invalid, then broke the service -------------------------------------
async def test_created_at_yesterday_is_refused(client: TestClient) -> None:
    problem = await refused(
        await client.post("/api/v1/handoffs", json=example(created_at="yesterday"), headers=AUTH)
    )

    assert "created_at" in problem["detail"] and "date-time" in problem["detail"]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_a_non_finite_frustration_is_refused_and_the_metrics_stay_finite(
    client: TestClient, value: str
) -> None:
    text = json.dumps(example(idempotency_key="key-non-finite")).replace(
        '"frustration": 0.5,', f'"frustration": {value},'
    )
    assert value in text

    problem = await refused(await post_raw(client, "/api/v1/handoffs", text))
    created = await client.post("/api/v1/handoffs", json=example(), headers=AUTH)

    assert problem["error"] == "invalid_json" and created.status == 201
    metrics = await (await client.get("/metrics")).text()
    total = re.search(r'attune_handoff_frustration_sum\{reason="frustration"\} (\S+)', metrics)
    assert total and math.isfinite(float(total[1]))


@pytest.mark.parametrize(
    "explanation, field",
    [
        ({"frustration": {"contributions": [1, 2]}}, "explanation.frustration.contributions"),
        ({"frustration": {"contributions": {"shouting": 0.5}}}, "explanation.frustration.contributions"),
        ({"frustration": "high"}, "explanation.frustration"),
        ({"sources": 7}, "explanation.sources"),
        ({"frustration": {"score": 2.5}}, "explanation.frustration.score"),
        (deep(900), "explanation"),
        (deep(30), "explanation"),
    ],
    ids=[
        "contributions-list",
        "contribution-number",
        "frustration-text",
        "sources-number",
        "score-2.5",
        "900",
        "30",
    ],
)
async def test_an_explanation_that_could_not_be_shown_is_refused(
    client: TestClient, explanation: dict[str, Any], field: str
) -> None:
    text = json.dumps(example(explanation=explanation))

    problem = await refused(await post_raw(client, "/api/v1/handoffs", text))

    assert field in problem["detail"] or "deeper than 32" in problem["detail"]


async def test_a_reused_key_with_a_different_body_is_a_409_naming_the_key(client: TestClient) -> None:
    first = await client.post("/api/v1/handoffs", json=example(), headers=AUTH)
    other = await client.post("/api/v1/handoffs", json=example(summary="another handoff"), headers=AUTH)
    retry = await client.post(
        "/api/v1/handoffs", json=example(created_at="2026-03-10T12:09:00+00:00"), headers=AUTH
    )

    assert first.status == 201
    problem = await refused(other, status=409)
    assert problem["error"] == "idempotency_key_reused"
    assert example()["idempotency_key"] in problem["detail"]
    assert retry.status == 200 and (await retry.json())["duplicate"] is True


async def test_a_key_stored_before_fingerprints_is_compared_with_its_stored_payload(
    client: TestClient,
) -> None:
    payload = example(idempotency_key="key-before-0011")
    with Session(client.app[ENGINE]) as session, session.begin():
        session.add(
            Handoff(
                id="h-before-0011",
                conversation_id="web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f",
                idempotency_key="key-before-0011",
                status="queued",
                priority=0,
                reason="frustration",
                payload=json.dumps(payload),
            )
        )

    same = await client.post(
        "/api/v1/handoffs", json={**payload, "created_at": "2026-03-11T08:00:00Z"}, headers=AUTH
    )
    other = await client.post("/api/v1/handoffs", json={**payload, "summary": "not it"}, headers=AUTH)

    assert same.status == 200 and (await same.json())["id"] == "h-before-0011"
    assert (await refused(other, status=409))["error"] == "idempotency_key_reused"


# --- ids in paths, queries and bodies -------------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/handoffs/%00",
        "/api/v1/handoffs/a%0Ab",
        "/api/v1/handoffs/" + "a" * 65,
        "/api/v1/customers/%00/consent",
        "/api/v1/customers/" + "c" * 5000 + "/consent",
    ],
    ids=["nul", "newline", "65-chars", "customer-nul", "customer-5000-chars"],
)
async def test_an_id_in_a_path_that_cannot_be_an_id_is_a_404(client: TestClient, path: str) -> None:
    problem = await refused(await client.get(URL(path, encoded=True), headers=AUTH), status=404)

    assert problem["error"] == "not_found"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"conversation_id": "conv\x0042"}, "conversation_id"),
        ({"conversation_id": "web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f\n"}, "conversation_id"),
        ({"conversation_id": "\u202econv"}, "conversation_id"),
        ({"conversation_id": "c" * 256}, "conversation_id"),
        ({"idempotency_key": "k" * 101}, "idempotency_key"),
        ({"channel": "web\x07"}, "channel"),
        ({"customer": {"pseudonym": "cust-" + "x" * 60}}, "customer.pseudonym"),
    ],
)
async def test_ids_in_the_payload_are_printable_and_bounded(
    client: TestClient, changes: dict[str, Any], field: str
) -> None:
    problem = await refused(await client.post("/api/v1/handoffs", json=example(**changes), headers=AUTH))

    assert problem["detail"].startswith(f"payload does not follow schema_version 1: {field}:")


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/customers/resolve", {"identities": [{"kind": "session", "value": "a\x00b"}]}),
        ("/api/v1/customers/resolve", {"identities": [{"kind": "email", "value": "İ" * 200 + "@x.io"}]}),
        (
            "/api/v1/customers/consent",
            {
                "identities": [{"kind": "session", "value": "s"}],
                "emotion_processing": "off",
                "channel": "a\x00",
            },
        ),
        ("/chat/consent", {"session_id": "s\x00", "emotion_processing": "off"}),
        ("/api/v1/handoffs/nope/callbacks", {"to": "+447911123456", "idempotency_key": "k\x00" * 100}),
        (
            "/api/v1/audit",
            {
                "key": "k\x00",
                "conversation_id": "c",
                "kind": "handoff",
                "actor": "empathy engine",
                "summary": "s",
            },
        ),
        (
            "/api/v1/audit",
            {
                "key": "k",
                "conversation_id": "c",
                "kind": "handoff",
                "actor": "empathy engine",
                "summary": "s",
                "created_at": "9999-12-31T23:59:59-23:59",
            },
        ),
        (
            "/api/v1/audit",
            {
                "key": "k",
                "conversation_id": "c",
                "kind": "handoff",
                "actor": "empathy engine",
                "summary": "s",
                "created_at": 1e20,
            },
        ),
    ],
)
async def test_ids_and_times_in_other_bodies_are_checked(client: TestClient, path: str, body: Any) -> None:
    await refused(await client.post(path, json=body, headers=AUTH))


@pytest.mark.parametrize(
    "query",
    ["limit=%C2%B2", "limit=" + "1" * 5000, "limit=0", "status=%FF"],
    ids=["superscript-two", "5000-digits", "zero", "not-utf8"],
)
async def test_queue_parameters_that_are_no_whole_number_are_a_400(client: TestClient, query: str) -> None:
    await refused(await client.get(URL(f"/api/v1/handoffs?{query}", encoded=True), headers=AUTH))


async def test_a_session_id_with_a_nul_is_a_400(client: TestClient) -> None:
    await refused(await client.get(URL("/chat/consent?session_id=a%00b", encoded=True)))


# --- forms: the console and Twilio -------------------------------------------------------------
@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
        (b"csrf_token=%FF&username=admin", "application/x-www-form-urlencoded"),
        (b"username=a%00b", "application/x-www-form-urlencoded"),
        (b"a=1&" * 100, "application/x-www-form-urlencoded"),
        (
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\r\n--x--\r\n',
            "multipart/form-data; boundary=x",
        ),
        (b"garbage", "multipart/form-data"),
    ],
    ids=["bad-utf8", "bad-percent-utf8", "nul", "100-fields", "multipart", "multipart-no-boundary"],
)
async def test_a_malformed_login_form_is_a_400(client: TestClient, body: bytes, content_type: str) -> None:
    await refused(await client.post("/console/login", data=body, headers={"Content-Type": content_type}))


async def test_malformed_twilio_forms_and_job_ids_are_4xx(client: TestClient) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}

    bad_bytes = await client.post("/twilio/status/job-1", data=b"CallStatus=\xff", headers=form)
    bad_id = await client.post(URL("/twilio/twiml/%00", encoded=True), data=b"", headers=form)

    await refused(bad_bytes)
    assert bad_id.status == 403  # unsigned: refused before the id is looked at


async def test_console_ids_counts_and_redirects_are_checked(client: TestClient) -> None:
    csrf = await log_in(client, "admin", PASSWORD)
    handoff_id = (await (await client.post("/api/v1/handoffs", json=example(), headers=AUTH)).json())["id"]

    page = await client.get(URL("/console/handoffs/%00", encoded=True))
    flag = await client.post("/console/flags/%C2%B2", data={"csrf_token": csrf, "decision": "accept"})
    huge = await client.post("/console/flags/" + "9" * 30, data={"csrf_token": csrf, "decision": "accept"})
    turn = await client.post(
        f"/console/handoffs/{handoff_id}/flags",
        data={"csrf_token": csrf, "turn": "²", "label": "anger"},
        allow_redirects=False,
    )
    audit = await client.get(URL("/console/audit?conversation=a%00b", encoded=True))

    assert (page.status, flag.status, huge.status, audit.status) == (404, 404, 404, 400)
    assert turn.status == 303 and turn.headers["Location"].startswith(
        f"/console/handoffs/{handoff_id}?error="
    )
    assert " " not in turn.headers["Location"]


# --- poisoned handoffs: stored before the checks, they still render --------------------------
NAN_TRAJECTORY = json.dumps(example(idempotency_key="key-poison-nan")).replace(
    '"frustration": 0.5,', '"frustration": NaN,'
)
POISONED = {
    "nan-in-trajectory": NAN_TRAJECTORY,
    "odd-explanation": json.dumps(
        example(idempotency_key="key-poison-odd", explanation={"frustration": {"contributions": [1, 2]}})
    ),
    "explanation-900-deep": json.dumps(example(idempotency_key="key-poison-deep", explanation=deep(900))),
    "yesterday": json.dumps(example(idempotency_key="key-poison-date", created_at="yesterday")),
    "empty": "{}",
    "not-json": "{not json",
    "retention-scrubbed": json.dumps(
        {
            **{
                k: v
                for k, v in example(idempotency_key="key-poison-kept").items()
                if k not in ("trajectory", "tone", "explanation", "emotions")
            },
            "retention_note": "emotion data removed after 30 days",
        }
    ),
    "enabled-without-tone": json.dumps(
        {k: v for k, v in example(idempotency_key="key-poison-tone").items() if k != "tone"}
    ),
}


@pytest.mark.parametrize("name", list(POISONED))
async def test_a_handoff_stored_before_the_checks_renders_in_the_console_and_the_api(
    client: TestClient, name: str
) -> None:
    with Session(client.app[ENGINE]) as session, session.begin():
        session.add(
            Handoff(
                id=f"h-{name}",
                conversation_id="web:6f1c2e0a9b8d4c3e8a7f5d2b1c0e9a8f",
                idempotency_key=f"key-{name}",
                status="queued",
                priority=0,
                reason="frustration",
                payload=POISONED[name],
            )
        )
    await log_in(client, "admin", PASSWORD)

    api = await client.get(f"/api/v1/handoffs/h-{name}", headers=AUTH)
    page = await client.get(f"/console/handoffs/h-{name}")
    queue = await client.get("/console")

    assert (api.status, page.status, queue.status) == (200, 200, 200), await page.text()
    served = json.loads(await api.text(), parse_constant=lambda constant: pytest.fail(f"{constant} served"))
    intact = name in ("retention-scrubbed", "enabled-without-tone")
    assert ("payload_problem" in served) is not intact
    assert ('id="payload-problem"' in await page.text()) is not intact


def test_the_payloads_that_poisoned_handoffs_are_refused_now() -> None:
    for name in ("nan-in-trajectory", "odd-explanation", "explanation-900-deep", "yesterday", "empty"):
        with pytest.raises((ContractError, HandoffError)):
            validate_payload(parse(POISONED[name].encode()))
