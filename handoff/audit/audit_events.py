"""The handoff service's own decisions, as audit entries (handoff/audit/audit_log.py keeps the chain).

Called right after each decision is committed, from handoff/queue/handoffs.py (a handoff accepted
into the queue, with its priority) and handoff/callbacks/call_jobs.py (a call-back scheduled or refused
by the daily limit, each attempt placed, a retry scheduled, the final status) and
handoff/privacy/merge_events.py (two customers merged, and a merge undone), the console's login (a failed
login, and the lock it started) and `attune agents` (an account added, its password reset, or it
disabled; handoff/console/agent_admin.py).  Each entry has a
key derived from what it records, so a repeated call records nothing twice.  None of these ever
raises: a failure is logged and the decision stands.  Phone numbers never enter the log.
"""

import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.audit import audit_log
from handoff.core.db import as_utc
from handoff.core.models import CALL_ERROR, CALL_PENDING, CALL_RATE_LIMITED, Agent, CallJob, Handoff
from handoff.shared.audit_entry import OPERATOR_ACTOR, SERVICE_ACTOR, NewEntry
from handoff.shared.phone_numbers import mask_phone

logger = logging.getLogger(__name__)

PRIORITY_RULE = (
    "urgent: distress over its threshold (call-back offered); high: a call-back was agreed, or the "
    "customer asked for a person while distressed; otherwise normal. "
    "Queue order: priority, then waiting time."
)
RETRY_RULE = "busy or no answer: one more attempt after the retry delay, only inside the agreed window"


def _iso(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment is not None else None


def handoff_accepted(engine: Engine, handoff_id: str) -> None:
    """A new handoff is in the queue: why, with which priority, from which data."""
    try:
        with Session(engine) as session:
            row = session.get(Handoff, handoff_id)
            if row is None:
                return
            payload: dict[str, Any] = json.loads(row.payload)
            conversation, created = row.conversation_id, as_utc(row.created_at)
        trigger = payload.get("trigger") or {}
        enabled = bool((payload.get("emotion_processing") or {}).get("enabled", True))
        callback = payload.get("callback") or {}
        explanation: dict[str, Any] = {"trigger": trigger, "priority_rule": PRIORITY_RULE}
        if enabled and isinstance(payload.get("explanation"), dict):
            explanation["engine"] = payload["explanation"]
        engine_sources = (payload.get("explanation") or {}).get("sources") if enabled else None
        entry = NewEntry(
            key=f"handoff_accepted:{handoff_id}",
            conversation_id=conversation,
            customer=(payload.get("customer") or {}).get("pseudonym"),
            kind="handoff_accepted",
            actor=SERVICE_ACTOR,
            summary=(
                f"Handoff {handoff_id} queued for the team: {str(payload.get('reason')).replace('_', ' ')}, "
                f"{payload.get('priority')} priority (the engine decided {trigger.get('decision')})"
            ),
            explanation=explanation,
            inputs={
                "reason": payload.get("reason"),
                "priority": payload.get("priority"),
                "channel": payload.get("channel"),
                "failed_self_service": len(payload.get("failed_attempts") or []),
                "callback_requested": bool(callback.get("requested")),
                "emotion_processing": "on" if enabled else "off",
                "payload_key": payload.get("idempotency_key"),
            },
            sources=(
                "handoff payload v1 from the action server",
                *(f"empathy engine: {s}" for s in engine_sources or []),
            ),
            opted_out=not enabled,
            created_at=created,
        )
    except Exception:
        logger.exception("audit entry for handoff %s could not be built", handoff_id)
        return
    audit_log.record(engine, entry)
    try:
        with Session(engine) as session:
            jobs = session.execute(select(CallJob.id).where(CallJob.handoff_id == handoff_id)).scalars().all()
    except Exception:
        logger.exception("call-backs of handoff %s could not be read for the audit log", handoff_id)
        return
    for job_id in jobs:
        call_scheduled(engine, job_id)


def _call(engine: Engine, job_id: str) -> tuple[Any, Any] | None:
    with Session(engine) as session:
        job = session.get(CallJob, job_id)
        if job is None:
            return None
        handoff = session.get(Handoff, job.handoff_id)
        session.expunge_all()
        return job, handoff


def _call_entry(
    job: Any,
    handoff: Any,
    kind: str,
    key: str,
    summary: str,
    explanation: dict[str, Any],
    sources: tuple[str, ...],
) -> NewEntry:
    trail = json.loads(job.trail_json or "[]")
    payload = json.loads(handoff.payload) if handoff is not None else {}
    enabled = bool((payload.get("emotion_processing") or {}).get("enabled", True))
    return NewEntry(
        key=key,
        conversation_id=handoff.conversation_id if handoff is not None else f"handoff:{job.handoff_id}",
        customer=job.customer,
        kind=kind,
        actor=SERVICE_ACTOR,
        summary=summary,
        explanation=explanation,
        inputs={
            "call_job": job.id,
            "handoff": job.handoff_id,
            "number": mask_phone(str(job.to_number)),
            "status": job.status,
            "attempt": job.attempts,
            "next_attempt_at": _iso(job.next_attempt_at),
            "window_end": _iso(job.window_end),
            "last_step": trail[-1] if trail else None,
        },
        sources=sources,
        opted_out=not enabled,
        created_at=datetime.now(timezone.utc),
    )


def _record_call(engine: Engine, job_id: str, build: Callable[[Any, Any, str], Any]) -> None:
    """Loads the job and its handoff, builds the entry from them and the job's last step, records it.

    An entry that cannot be built is logged, never raised: the call-back itself already happened.
    """
    try:
        found = _call(engine, job_id)
        if found is None:
            return
        job, handoff = found
        trail = json.loads(job.trail_json or "[]")
        entry = build(job, handoff, trail[-1]["detail"] if trail else "")
    except Exception:
        logger.exception("audit entry for call job %s could not be built", job_id)
        return
    audit_log.record(engine, entry)


def call_scheduled(engine: Engine, job_id: str) -> None:
    """A call-back job was created: when it will be placed, or why it was refused."""

    def build(job: Any, handoff: Any, detail: str) -> Any:
        if job.status == CALL_RATE_LIMITED:
            summary = f"Call-back refused by the daily limit: {detail}"
            rule = "at most ATTUNE_CALLBACK_DAILY_LIMIT call-backs per customer (or number) in 24 hours"
        else:
            when = _iso(job.next_attempt_at) or "now"
            summary = f"Call-back scheduled for {when}" + (
                f", inside the window ending {_iso(job.window_end)}" if job.window_end else ""
            )
            rule = "placed when due: now, or at the start of the window the customer agreed to"
        return _call_entry(
            job,
            handoff,
            "callback_scheduled",
            f"callback_scheduled:{job_id}",
            summary,
            {"rule": rule, "detail": detail},
            ("call job", "consent and chosen window (handoff payload)", "call-backs of the last 24 h"),
        )

    _record_call(engine, job_id, build)


def call_placed(engine: Engine, job_id: str, simulated: bool) -> None:
    """One attempt was made (or simulated): what was asked of Twilio and what came back."""

    def build(job: Any, handoff: Any, detail: str) -> Any:
        if job.status == CALL_PENDING:
            summary = f"Call-back attempt {job.attempts} refused by Twilio; trying again later: {detail}"
        elif simulated:
            summary = f"Call-back attempt {job.attempts} simulated (Twilio not configured): nobody was called"
        elif job.status == CALL_ERROR:
            summary = f"Call-back attempt {job.attempts} failed: {job.last_error}"
        else:
            summary = f"Call-back attempt {job.attempts} placed with Twilio ({job.status})"
        return _call_entry(
            job,
            handoff,
            "callback_placed",
            f"callback_placed:{job_id}:{job.attempts}",
            summary,
            {"rule": "each attempt is placed once; the client never re-sends", "detail": detail},
            ("call job", "simulated mode (no Twilio credentials)" if simulated else "Twilio API response"),
        )

    _record_call(engine, job_id, build)


def call_reported(engine: Engine, job_id: str) -> None:
    """Twilio's report led to a decision: one more attempt, or the call-back is over (final status)."""

    def build(job: Any, handoff: Any, detail: str) -> Any:
        if job.status == CALL_PENDING:
            summary = f"Call-back attempt {job.attempts}: {detail}"
            explanation = {"rule": RETRY_RULE, "detail": detail}
        else:
            told = " (the customer will be told)" if job.notice else ""
            summary = f"Call-back finished: {job.status} after {job.attempts} attempt(s){told}"
            explanation = {"rule": RETRY_RULE, "detail": detail, "customer_notice": job.notice}
        return _call_entry(
            job,
            handoff,
            "callback_status",
            f"callback_status:{job_id}:{job.attempts}:{job.status}",
            summary,
            explanation,
            ("Twilio status callback (signature checked)", "call job"),
        )

    _record_call(engine, job_id, build)


# --- the console's accounts ---------------------------------------------------------------
LOGIN_RULE = (
    "a wrong username or password, or a disabled account, is a failed login; an account or a client "
    "address with too many failures within the window is locked, each further failure doubling the "
    "lock (handoff/console/login_throttle.py)"
)
UNKNOWN_ACCOUNT = "(no such account)"


def account_subject(username: str) -> str:
    """The log's name for an agent account; every entry about one shares it (``agent:<username>``)."""
    return f"agent:{username}"


def _known(engine: Engine, username: str) -> bool:
    with Session(engine) as session:
        return session.execute(select(Agent.id).where(Agent.username == username)).first() is not None


def login_failed(
    engine: Engine, username: str, address: str, failures: int, locked_until: datetime | None
) -> None:
    """A console login failed: for which account, from where, and the lock it started, if any.

    A username with no account is not written down (people type passwords into the username field);
    the entry says only that the account did not exist.
    """
    try:
        known = _known(engine, username)
        subject = account_subject(username if known else UNKNOWN_ACCOUNT)
        locked = f"; locked until {_iso(locked_until)}" if locked_until is not None else ""
        entry = NewEntry(
            key=f"console_login_failed:{uuid.uuid4()}",
            conversation_id=subject,
            customer=None,
            kind="console_login_failed",
            actor=SERVICE_ACTOR,
            summary=f"Failed console login for {subject} from {address}{locked}",
            explanation={"rule": LOGIN_RULE},
            inputs={
                "account": username if known else UNKNOWN_ACCOUNT,
                "address": address,
                "failures_in_window": failures,
                "locked_until": _iso(locked_until),
            },
            sources=("console login form", "login_failures"),
            opted_out=False,
            created_at=datetime.now(timezone.utc),
        )
    except Exception:
        logger.exception("audit entry for a failed console login could not be built")
        return
    audit_log.record(engine, entry)


def account_changed(engine: Engine, kind: str, username: str, operator: str, inputs: dict[str, Any]) -> None:
    """`attune agents` changed an account (``kind``: agent_added, agent_password_reset, agent_disabled).

    No password, new or old, is ever in ``inputs``.  Unlike the service's own entries this one
    raises when it cannot be written: the operator at the command is told, not a log file.
    """
    what = {
        "agent_added": "added",
        "agent_password_reset": "had its password reset (its sessions ended)",
        "agent_disabled": "disabled (its sessions ended)",
    }[kind]
    entry = NewEntry(
        key=f"{kind}:{uuid.uuid4()}",
        conversation_id=account_subject(username),
        customer=None,
        kind=kind,
        actor=OPERATOR_ACTOR,
        summary=f"Console account {username} {what} by {operator}",
        explanation={"rule": "console accounts change only through `attune agents`, each change audited"},
        inputs={"account": username, "operator": operator, **inputs},
        sources=("attune agents command",),
        opted_out=False,
        created_at=datetime.now(timezone.utc),
    )
    audit_log.append(engine, entry)
