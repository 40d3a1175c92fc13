"""Attune's Twilio requests checked against Twilio's own OpenAPI description.

Stoplight Prism (`make prism` installs it from npm into .cache/prism) serves
../shared/twilio/twilio_api_v2010.json as a validating mock on loopback, and the official client,
built the way Attune builds it (handoff.shared.twilio_http), sends Attune's requests to it.  Prism answers
201 only to a request the published contract allows and 422 to one it does not.  It checks neither
credentials nor Twilio's error codes, so behaviour (errors, retries, status callbacks) is tested
against tests/twilio_fake.py instead; this file checks the shape of what Attune sends.
"""

import http.client
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handoff.callbacks.call_jobs import CallState, TwilioAccount, call_request
from handoff.shared.twilio_http import twilio_client
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT.parent / "shared" / "twilio" / "twilio_api_v2010.json"
PRISM = ROOT / ".cache" / "prism" / "node_modules" / ".bin" / "prism"
CALLS = "/2010-04-01/Accounts/{AccountSid}/Calls.json"
START_TIMEOUT = 60.0

ACCOUNT = TwilioAccount(
    account_sid="AC" + "0123456789abcdef" * 2,
    auth_token="prism-checks-no-credentials",
    from_number="+15005550006",
    public_url="https://attune.example.com",
)
JOB = CallState(
    id="0b6f4e2c-6a53-4c1e-9d0f-5d7c2f1e8a41",
    handoff_id="h1",
    to_number="+447911123456",
    status="pending",
    attempts=1,
    twilio_sid=None,
    request=None,
    last_error=None,
)


def required(path: Path, remedy: str) -> Path:
    """``path``, or a skip (a failure under CI=true) naming what is missing and how to get it."""
    if path.is_file():
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{path} is missing; {remedy}")
    pytest.skip(f"{path} not present; {remedy}")


def adjusted_spec(source: Path, target: Path) -> Path:
    """A copy of Twilio's description that accepts the list-valued StatusCallbackEvent Twilio documents.

    Twilio wants one ``StatusCallbackEvent`` form field per event (which is how the official client
    sends a list), and the description types it as an array, but gives no ``encoding`` for it.
    Prism 5 splits repeated form fields into an array only for properties with an explicit
    ``encoding`` style, so as published it rejects every list ("must be array"), even one event.
    Stating OpenAPI's own default for forms (style form, explode) for that one property fixes it
    without loosening anything else.
    """
    spec = json.loads(source.read_text())
    form = spec["paths"][CALLS]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert form["schema"]["properties"]["StatusCallbackEvent"]["type"] == "array"
    assert "encoding" not in form, "Twilio now publishes an encoding: drop this adjustment"
    form["encoding"] = {"StatusCallbackEvent": {"style": "form", "explode": True}}
    target.write_text(json.dumps(spec))
    return target


def answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


@pytest.fixture(scope="module")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    source = required(SPEC, "Twilio's OpenAPI description comes with ../shared/twilio, which CI must provide")
    prism = required(PRISM, "run `make prism` to install Stoplight Prism from npm")
    work = tmp_path_factory.mktemp("prism")
    spec = adjusted_spec(source, work / "twilio_api_v2010.json")
    port = free_port()
    log_path = work / "prism.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(prism), "mock", "-h", "127.0.0.1", "-p", str(port), "--errors", str(spec)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Prism did not start on port {port}:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def client(prism_url: str) -> Any:
    return twilio_client(ACCOUNT.account_sid, ACCOUNT.auth_token, prism_url)


def post_form(client: Any, resource: str, form: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POSTs ``form`` to a 2010-04-01 resource through the client's own HTTP layer (and its auth)."""
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT.account_sid}/{resource}"
    response = client.request("POST", url, data=form)
    return response.status_code, json.loads(response.text)


def rejected(body: dict[str, Any]) -> list[str]:
    return [problem["message"] for problem in body.get("validation", [])]


def twilio_form(request: dict[str, Any]) -> dict[str, Any]:
    """``calls.create`` keyword arguments under Twilio's parameter names (from_ -> From)."""
    return {"".join(part.title() for part in key.rstrip("_").split("_")): v for key, v in request.items()}


def test_the_call_back_request_follows_twilios_contract(client: Any) -> None:
    request = call_request(JOB, ACCOUNT)
    assert len(request["status_callback_event"]) > 1  # the list the published description rejects

    call = client.calls.create(**request)  # raises TwilioRestException unless Prism answers 2xx

    assert call.sid.startswith("CA")  # parsed from the 201 example in Twilio's description


def test_a_call_request_without_to_is_rejected(client: Any) -> None:
    form = twilio_form(call_request(JOB, ACCOUNT))
    assert set(form) >= {"To", "From", "Url", "StatusCallbackEvent"}
    del form["To"]

    status, body = post_form(client, "Calls.json", form)

    assert status == 422
    assert rejected(body) == ["Request body must have required property 'To'"]


def test_the_sms_reply_follows_twilios_contract(client: Any) -> None:
    message = client.messages.create(
        to=JOB.to_number, from_=ACCOUNT.from_number, body="Thanks, Sam. A person will reply here shortly."
    )  # raises TwilioRestException unless Prism answers 2xx

    assert message.sid.startswith("SM")


def test_a_message_without_to_is_rejected(client: Any) -> None:
    form = {"From": ACCOUNT.from_number, "Body": "Thanks, Sam."}

    status, body = post_form(client, "Messages.json", form)

    assert status == 422
    assert rejected(body) == ["Request body must have required property 'To'"]
