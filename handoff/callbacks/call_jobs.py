"""Phone call-backs: durable jobs placed with the official Twilio client, at most once per attempt.

The life cycle of one job (a row of ``call_jobs``):

- created with the handoff (``new_job``), ``pending`` until ``next_attempt_at`` (now, or the start of
  the window the customer chose), or ``rate_limited`` when the customer had too many call-backs today;
- ``place_call`` writes ``placing`` *before* asking Twilio and only ever places a ``pending`` job, so a
  crash or a second worker can never ring the customer twice for one attempt.  The client never
  retries (a re-sent POST after a 5xx could ring twice: handoff/shared/twilio_http.py);
- Twilio's status callbacks (``record_status``) move it on; busy or no answer puts it back to
  ``pending`` once, ``RETRY_AFTER`` later and inside the window; after the last attempt, or on an
  error, a ``notice`` says what the customer must still be told (handoff/callbacks/call_runner.py sends it);
- without credentials nothing is placed: the job is ``simulated`` and the exact request that would
  have been sent is stored and shown in the console.
"""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.audit import audit_events
from handoff.core.db import as_utc
from handoff.core.models import (
    CALL_BUSY,
    CALL_CANCELED,
    CALL_ERROR,
    CALL_FAILED,
    CALL_NO_ANSWER,
    CALL_PENDING,
    CALL_PLACING,
    CALL_RATE_LIMITED,
    CALL_UNKNOWN,
    FINAL_STATUSES,
    NOTICE_MISSED,
    SIMULATED,
    TWILIO_QUEUED,
    CallJob,
    FinalCallStatus,
    Handoff,
    JobStatus,
)
from handoff.shared.errors import InvalidRequest, NotFound
from handoff.shared.payload_contract import is_id
from handoff.shared.phone_numbers import NotAPhoneNumber, mask_phone, to_e164

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
MAX_ATTEMPTS = 2  # the first call and one retry
MAX_SID_CHARS = 64  # Twilio's call SIDs have 34 characters (the column has room for 64)
RETRY_STATUSES: tuple[FinalCallStatus, ...] = (CALL_BUSY, CALL_NO_ANSWER)
# Twilio reported that nobody spoke to the customer: they are told they were missed.
MISSED_STATUSES: tuple[FinalCallStatus, ...] = (CALL_BUSY, CALL_NO_ANSWER, CALL_FAILED, CALL_CANCELED)
NOT_PLACED: tuple[JobStatus, ...] = (CALL_PENDING, CALL_RATE_LIMITED, SIMULATED, CALL_ERROR)
# Told each job's final status once, when it is decided (the service counts them: handoff/core/metrics.py).
OnOutcome = Callable[[str], None]


@dataclass(frozen=True)
class TwilioAccount:
    """What a real Twilio account needs; ``simulated`` when any part is missing."""

    account_sid: str | None
    auth_token: str | None
    from_number: str | None
    public_url: str
    api_base: str | None = None

    @property
    def simulated(self) -> bool:
        return not (self.account_sid and self.auth_token and self.from_number)


@dataclass(frozen=True)
class CallPolicy:
    """The deployer's limits: call-backs per customer per 24 hours, and the wait before the retry."""

    daily_limit: int = 3
    retry_after: timedelta = timedelta(minutes=5)


DEFAULT_POLICY = CallPolicy()


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
    next_attempt_at: datetime | None = None
    window_end: datetime | None = None
    notice: str | None = None
    trail: tuple[dict[str, str], ...] = ()

    def to_dict(self, cleared: bool) -> dict[str, Any]:
        """For the console and API; the number and the raw request only for cleared roles."""
        return {
            "id": self.id,
            "to": self.to_number if cleared else mask_phone(self.to_number),
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "error": self.last_error,
            "trail": list(self.trail),
            "request": self.request if cleared else None,
        }


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
        as_utc(row.next_attempt_at) if row.next_attempt_at else None,
        as_utc(row.window_end) if row.window_end else None,
        row.notice,
        tuple(json.loads(row.trail_json or "[]")),
    )


def _move(row: CallJob, status: str, now: datetime, detail: str = "") -> None:
    """Sets the status (one of ours, or Twilio's report as reported) and appends it to the job's trail."""
    row.status = status
    trail = json.loads(row.trail_json or "[]")
    trail.append({"at": now.isoformat(), "status": status, "detail": detail})
    row.trail_json = json.dumps(trail)


def e164(number: str, default_region: str = "GB") -> str:
    """The number in E.164 (+441234567890), or InvalidRequest saying why not."""
    try:
        return to_e164(number, default_region)
    except NotAPhoneNumber as error:
        raise InvalidRequest(str(error)) from error


def new_job(
    session: Session,
    handoff_id: str,
    to_number: str,
    key: str,
    policy: CallPolicy,
    customer: str | None = None,
    not_before: datetime | None = None,
    window_end: datetime | None = None,
    now: datetime | None = None,
    on_outcome: OnOutcome | None = None,
) -> CallJob:
    """Adds a call-back job to ``session`` (the caller's transaction), or returns the one for ``key``."""
    moment = now or datetime.now(timezone.utc)
    number = e164(to_number)
    existing: CallJob | None = session.execute(
        select(CallJob).where(CallJob.idempotency_key == key)
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    if session.get(Handoff, handoff_id) is None:
        raise NotFound(f"no handoff {handoff_id!r}")
    row = CallJob(
        id=str(uuid.uuid4()),
        handoff_id=handoff_id,
        idempotency_key=key,
        to_number=number,
        customer=customer,
        attempts=0,
        next_attempt_at=max(not_before or moment, moment),
        window_end=window_end,
        created_at=moment,
    )
    today = _calls_in_last_day(session, number, customer, moment)
    if today >= policy.daily_limit:
        _move(row, CALL_RATE_LIMITED, moment, f"{today} call-backs for this customer in the last 24 hours")
        if on_outcome is not None:
            on_outcome(CALL_RATE_LIMITED)
    else:
        _move(row, CALL_PENDING, moment, f"due {row.next_attempt_at.isoformat()}")
    session.add(row)
    session.flush()
    return row


def _calls_in_last_day(session: Session, number: str, customer: str | None, now: datetime) -> int:
    who = (
        CallJob.to_number == number
        if customer is None
        else or_(CallJob.to_number == number, CallJob.customer == customer)
    )
    rows = session.execute(
        select(CallJob.id).where(
            who, CallJob.status != CALL_RATE_LIMITED, CallJob.created_at > now - timedelta(days=1)
        )
    ).all()
    return len(rows)


def request_call(
    engine: Engine,
    handoff_id: str,
    to_number: str,
    key: str,
    policy: CallPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
    on_outcome: OnOutcome | None = None,
) -> CallState:
    """Stores a call-back job for an existing handoff (or returns the one already stored for ``key``)."""
    with Session(engine) as session, session.begin():
        job = _state(new_job(session, handoff_id, to_number, key, policy, now=now, on_outcome=on_outcome))
    audit_events.call_scheduled(engine, job.id)
    return job


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


def due_jobs(engine: Engine, now: datetime | None = None) -> list[str]:
    moment = now or datetime.now(timezone.utc)
    with Session(engine) as session:
        rows = session.execute(
            select(CallJob.id)
            .where(CallJob.status == CALL_PENDING, CallJob.next_attempt_at <= moment)
            .order_by(CallJob.next_attempt_at)
        ).all()
        return [row.id for row in rows]


def place_call(
    engine: Engine,
    job_id: str,
    account: TwilioAccount,
    make_client: Callable[[], Any],
    policy: CallPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
    on_outcome: OnOutcome | None = None,
) -> CallState:
    """Places the call for a pending job, at most once per attempt; records what happened either way."""
    from twilio.base.exceptions import TwilioException, TwilioRestException

    moment = now or datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        row = session.get(CallJob, job_id)
        if row is None:
            raise NotFound(f"no call job {job_id!r}")
        if row.status != CALL_PENDING:
            return _state(row)  # placed (or being placed) already: never twice
        row.attempts += 1
        _move(row, CALL_PLACING, moment, f"attempt {row.attempts} of {MAX_ATTEMPTS}")
        job = _state(row)
    request = call_request(job, account)
    # One of ours (simulated, error) or the status Twilio answered with.
    status: str = SIMULATED
    sid, error, detail = None, None, "Twilio is not configured: nobody was called"
    if not account.simulated:
        try:
            call = make_client().calls.create(**request)
            status, sid, detail = str(call.status or TWILIO_QUEUED), str(call.sid), f"Twilio call {call.sid}"
        except TwilioRestException as failure:
            status, error = CALL_ERROR, f"Twilio {failure.status} / code {failure.code}: {failure.msg}"
        except (TwilioException, OSError) as failure:
            # Timeouts and dropped connections land here: the call may exist, so it is never re-sent.
            status, error = CALL_ERROR, f"{type(failure).__name__}: {failure}"
    with Session(engine) as session, session.begin():
        row = session.get(CallJob, job_id)
        row.twilio_sid, row.last_error = row.twilio_sid or sid, error
        row.request_json = json.dumps(request)
        if row.status != CALL_PLACING:
            return _state(row)  # a status callback got here first and already moved the job on
        if error and "Twilio 429" in error and row.attempts < MAX_ATTEMPTS:
            # Too many requests: Twilio did not create the call, so trying once more later is safe.
            row.next_attempt_at = moment + policy.retry_after
            _move(row, CALL_PENDING, moment, f"{error}; trying again at {row.next_attempt_at.isoformat()}")
        else:
            _move(row, status, moment, error or detail)
            if status in (CALL_ERROR, SIMULATED):
                row.notice = status
        placed = _state(row)
    if on_outcome is not None and placed.status in (CALL_ERROR, SIMULATED):
        on_outcome(placed.status)
    audit_events.call_placed(engine, job_id, account.simulated)
    return placed


def record_status(
    engine: Engine,
    job_id: str,
    call_status: str,
    call_sid: str | None,
    policy: CallPolicy = DEFAULT_POLICY,
    now: datetime | None = None,
    on_outcome: OnOutcome | None = None,
) -> CallState:
    """Stores the status Twilio reported (from a verified status callback) and decides what is next."""
    _check_report(call_status, call_sid)
    moment = now or datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        row = session.get(CallJob, job_id)
        if row is None:
            raise NotFound(f"no call job {job_id!r}")
        moved_on = _apply_report(row, call_status, call_sid, policy, moment)
        reported = _state(row)
    if moved_on:
        _announce_report(engine, job_id, reported, on_outcome)
    return reported


def _check_report(call_status: str, call_sid: str | None) -> None:
    if not is_id(call_status, 24):
        raise InvalidRequest("CallStatus is missing or malformed")
    if call_sid and not is_id(call_sid, MAX_SID_CHARS):
        raise InvalidRequest("CallSid is malformed")


def _apply_report(
    row: CallJob, call_status: str, call_sid: str | None, policy: CallPolicy, moment: datetime
) -> bool:
    """Moves the job on by Twilio's report; False when the report must leave the job as it is."""
    if call_sid and row.twilio_sid and call_sid != row.twilio_sid:
        # A late report about an earlier attempt: kept in the trail, the current attempt unchanged.
        _move(row, row.status, moment, f"earlier call {call_sid} reported {call_status}")
        return False
    if row.status in FINAL_STATUSES or row.status in NOT_PLACED:
        # Twilio may deliver callbacks out of order; a final status is never overwritten.
        return False
    if call_sid and not row.twilio_sid:
        row.twilio_sid = call_sid
    retry_at = moment + policy.retry_after
    if _may_retry(row, call_status, retry_at):
        row.next_attempt_at, row.twilio_sid = retry_at, None
        _move(row, CALL_PENDING, moment, f"{call_status}; trying once more at {retry_at.isoformat()}")
    else:
        _move(row, call_status, moment, f"Twilio reported {call_status}")
        if call_status in MISSED_STATUSES:
            row.notice = NOTICE_MISSED
    return True


def _may_retry(row: CallJob, call_status: str, retry_at: datetime) -> bool:
    """Busy or no answer, an attempt left, and the retry still inside the customer's window."""
    window_end = as_utc(row.window_end) if row.window_end else None
    return (
        call_status in RETRY_STATUSES
        and row.attempts < MAX_ATTEMPTS
        and (window_end is None or retry_at <= window_end)
    )


def _announce_report(engine: Engine, job_id: str, reported: CallState, on_outcome: OnOutcome | None) -> None:
    """Counts a final status and audits a decided retry or a finished call-back."""
    if on_outcome is not None and reported.status in FINAL_STATUSES:
        on_outcome(reported.status)
    if reported.status == CALL_PENDING or reported.status in FINAL_STATUSES:
        audit_events.call_reported(engine, job_id)  # a retry decided, or the call-back is over


def pending_notices(engine: Engine) -> list[tuple[str, str, str, int]]:
    """(job id, conversation id, notice, attempts) for customers who still have to be told something."""
    with Session(engine) as session:
        rows = session.execute(
            select(CallJob.id, Handoff.conversation_id, CallJob.notice, CallJob.attempts)
            .join(Handoff, Handoff.id == CallJob.handoff_id)
            .where(CallJob.notice.is_not(None), CallJob.notified_at.is_(None))
        ).all()
        return [(r.id, r.conversation_id, r.notice, r.attempts) for r in rows]


def mark_notified(engine: Engine, job_id: str, now: datetime | None = None) -> None:
    with Session(engine) as session, session.begin():
        row = session.get(CallJob, job_id)
        if row is not None:
            row.notified_at = now or datetime.now(timezone.utc)


def interrupt_stale(
    engine: Engine, older_than: timedelta, now: datetime | None = None, on_outcome: OnOutcome | None = None
) -> int:
    """Jobs left ``placing`` by a stopped service: marked ``unknown``, never placed again automatically."""
    moment = now or datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        rows = session.execute(
            select(CallJob).where(CallJob.status == CALL_PLACING, CallJob.updated_at < moment - older_than)
        ).scalars()
        count = 0
        for row in rows:
            row.last_error = "The service stopped while placing this call: check Twilio's call log first."
            _move(row, CALL_UNKNOWN, moment, row.last_error)
            count += 1
    if on_outcome is not None:
        for _ in range(count):
            on_outcome(CALL_UNKNOWN)
    return count


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
        settings.twilio_api_base,
    )


def policy_from(settings: Any) -> CallPolicy:
    return CallPolicy(settings.callback_daily_limit, timedelta(seconds=settings.callback_retry_seconds))


def official_client(account: TwilioAccount) -> Any:
    """The official client over handoff/shared/twilio_http.py: no retries, optionally another API base."""
    from handoff.shared.twilio_http import twilio_client

    return twilio_client(account.account_sid, account.auth_token, account.api_base)
