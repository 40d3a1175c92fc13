"""Placing phone call-backs with the official Twilio client, from a durable job.

``request_call`` stores the job (once per idempotency key); ``place_call`` marks it ``placing``
*before* asking Twilio and never places a job that is not ``pending``, so one request can never
ring the customer twice.  The client is built without retries (Twilio's client would re-send a
POST on 5xx).  Without credentials the service runs in a clearly-labelled simulated mode: the exact
request that would be sent is stored (and shown in the console) and nothing pretends to call.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.errors import InvalidRequest, NotFound
from handoff.models import CallJob, Handoff

SIMULATED = "simulated"
STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]


@dataclass(frozen=True)
class TwilioAccount:
    """What a real Twilio account needs; ``simulated`` when any part is missing."""

    account_sid: str | None
    auth_token: str | None
    from_number: str | None
    public_url: str

    @property
    def simulated(self) -> bool:
        return not (self.account_sid and self.auth_token and self.from_number)


@dataclass(frozen=True)
class CallState:
    id: str
    handoff_id: str
    to_number: str
    status: str
    attempts: int
    twilio_sid: str | None
    request: dict[str, Any] | None
    last_error: str | None


def _state(row: CallJob) -> CallState:
    return CallState(
        row.id,
        row.handoff_id,
        row.to_number,
        row.status,
        row.attempts,
        row.twilio_sid,
        json.loads(row.request_json) if row.request_json else None,
        row.last_error,
    )


def e164(number: str, default_region: str = "GB") -> str:
    """The number in E.164 (+441234567890), or InvalidRequest saying why not."""
    try:
        parsed = phonenumbers.parse(number, default_region)
    except phonenumbers.NumberParseException as error:
        raise InvalidRequest(f"not a phone number: {error}") from error
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidRequest("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def request_call(engine: Engine, handoff_id: str, to_number: str, key: str) -> CallState:
    """Stores a call-back job (or returns the one already stored for ``key``)."""
    number = e164(to_number)
    with Session(engine) as session, session.begin():
        existing = session.execute(select(CallJob).where(CallJob.idempotency_key == key)).scalar_one_or_none()
        if existing is not None:
            return _state(existing)
        if session.get(Handoff, handoff_id) is None:
            raise NotFound(f"no handoff {handoff_id!r}")
        row = CallJob(id=str(uuid.uuid4()), handoff_id=handoff_id, idempotency_key=key, to_number=number)
        session.add(row)
        session.flush()
        return _state(row)


def call_request(job: CallState, account: TwilioAccount) -> dict[str, Any]:
    """The parameters of ``calls.create`` for this job (also what simulated mode records)."""
    base = account.public_url.rstrip("/")
    return {
        "to": job.to_number,
        "from_": account.from_number or "+15005550006",
        "url": f"{base}/twilio/twiml/{job.id}",
        "status_callback": f"{base}/twilio/status/{job.id}",
        "status_callback_event": STATUS_EVENTS,
        "status_callback_method": "POST",
    }


def place_call(
    engine: Engine, job_id: str, account: TwilioAccount, make_client: Callable[[], Any]
) -> CallState:
    """Places the call for a pending job, at most once; records what happened either way."""
    from twilio.base.exceptions import TwilioException, TwilioRestException

    with Session(engine) as session, session.begin():
        row = session.get(CallJob, job_id)
        if row is None:
            raise NotFound(f"no call job {job_id!r}")
        if row.status != "pending":
            return _state(row)  # placed (or being placed) already: never twice
        row.status, row.attempts = "placing", row.attempts + 1
        job = _state(row)
    request = call_request(job, account)
    status, sid, error = SIMULATED, None, None
    if not account.simulated:
        try:
            call = make_client().calls.create(**request)
            status, sid = str(call.status or "queued"), str(call.sid)
        except TwilioRestException as failure:
            status, error = "error", f"Twilio {failure.status} / code {failure.code}: {failure.msg}"
        except (TwilioException, OSError) as failure:
            status, error = "error", f"{type(failure).__name__}: {failure}"
    with Session(engine) as session, session.begin():
        row = session.get(CallJob, job_id)
        row.status, row.twilio_sid, row.last_error = status, sid, error
        row.request_json = json.dumps(request)
        return _state(row)


FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")


def record_status(engine: Engine, job_id: str, call_status: str, call_sid: str | None) -> CallState:
    """Stores the status Twilio reported for a call (from a verified status callback)."""
    if not call_status or len(call_status) > 24:
        raise InvalidRequest("CallStatus is missing or malformed")
    with Session(engine) as session, session.begin():
        row = session.get(CallJob, job_id)
        if row is None:
            raise NotFound(f"no call job {job_id!r}")
        row.status = call_status
        if call_sid and not row.twilio_sid:
            row.twilio_sid = call_sid
        return _state(row)


def get_job(engine: Engine, job_id: str) -> CallState:
    with Session(engine) as session:
        row = session.get(CallJob, job_id)
        if row is None:
            raise NotFound(f"no call job {job_id!r}")
        return _state(row)


def jobs_for(engine: Engine, handoff_id: str) -> list[CallState]:
    with Session(engine) as session:
        rows = session.execute(
            select(CallJob).where(CallJob.handoff_id == handoff_id).order_by(CallJob.created_at)
        ).scalars()
        return [_state(row) for row in rows]


def account_from(settings: Any) -> TwilioAccount:
    return TwilioAccount(
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_from_number,
        settings.public_url,
    )


def official_client(account: TwilioAccount) -> Any:
    """The official client, without retries: a re-sent POST could ring the customer twice."""
    from twilio.http.http_client import TwilioHttpClient
    from twilio.rest import Client

    return Client(
        account.account_sid, account.auth_token, http_client=TwilioHttpClient(timeout=10, max_retries=None)
    )
