"""Tables of the handoff service.  Schema changes go through an Alembic migration in migrations/versions/."""

from datetime import datetime, timezone
from typing import Any, Final, Literal, TypeGuard, get_args

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base

Base: Any = declarative_base()

# Where a handoff is in the queue: waiting, held by an agent, done.
HandoffStatus = Literal["queued", "claimed", "resolved"]
QUEUED: Final[HandoffStatus] = "queued"
CLAIMED: Final[HandoffStatus] = "claimed"
RESOLVED: Final[HandoffStatus] = "resolved"
HANDOFF_STATUSES: Final[tuple[HandoffStatus, ...]] = get_args(HandoffStatus)


def is_handoff_status(value: str) -> TypeGuard[HandoffStatus]:
    """True for one of ``HANDOFF_STATUSES`` (narrows a query parameter to the type)."""
    return value in HANDOFF_STATUSES


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Handoff(Base):
    """One conversation handed to people: the payload as sent, and where it is in the queue."""

    __tablename__ = "handoffs"

    id = Column(String(36), primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    # The sender's key for this handoff: a retried delivery with the same key is the same handoff.
    idempotency_key = Column(String(128), nullable=False, unique=True)
    # contract.fingerprint of the body as sent: the same key with another body is refused (None: stored
    # before migration 0011; then the stored payload is compared).
    body_hash = Column(String(64), nullable=True)
    status = Column(String(16), nullable=False, default=QUEUED)
    priority = Column(Integer, nullable=False, default=0)
    reason = Column(String(64), nullable=False)
    payload = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=_now, onupdate=_now)
    # Who holds it, and when their console last checked in (a silent console loses the claim).
    claimed_by = Column(Integer, ForeignKey("agents.id"), nullable=True)
    claimed_at = Column(DateTime(timezone=True), nullable=True)
    agent_seen_at = Column(DateTime(timezone=True), nullable=True)
    resolved_at = Column(DateTime(timezone=True), nullable=True)
    # Who resolved it, and the human part of the conversation (from the claim to the resolve: the agent's
    # and the customer's messages, a JSON list of {speaker, text, at}), kept when it was resolved.
    resolved_by = Column(Integer, ForeignKey("agents.id"), nullable=True)
    human_transcript = Column(Text, nullable=True)
    # Set when the customer was told the wait is longer than ATTUNE_MAX_WAIT_SECONDS (told once).
    wait_notice_at = Column(DateTime(timezone=True), nullable=True)
    # Why it was resolved: a reason code of policy/workspace.yml, and the agent's words (migration 0016).
    disposition = Column(String(32), nullable=True)
    disposition_note = Column(Text, nullable=True)


# A webhook delivery: still to send (or retried), sent, or given up after the last retry.
WebhookStatus = Literal["pending", "delivered", "dead"]
WEBHOOK_PENDING: Final[WebhookStatus] = "pending"
WEBHOOK_DELIVERED: Final[WebhookStatus] = "delivered"
WEBHOOK_DEAD: Final[WebhookStatus] = "dead"
WEBHOOK_STATUSES: Final[tuple[WebhookStatus, ...]] = get_args(WebhookStatus)


class WebhookDelivery(Base):
    """One handoff event to send to one external desk; ``dead`` after the last retry (the dead letters)."""

    __tablename__ = "webhook_deliveries"

    id = Column(String(36), primary_key=True)
    handoff_id = Column(String(36), ForeignKey("handoffs.id"), nullable=False)
    url = Column(String(2000), nullable=False)
    event = Column(String(64), nullable=False)
    status = Column(String(16), nullable=False, default=WEBHOOK_PENDING)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime(timezone=True), nullable=False, default=_now)
    last_error = Column(Text, nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)
    delivered_at = Column(DateTime(timezone=True), nullable=True)


# A designer tunes the empathy policy in the playground (handoff/playground/) and uses no other console page.
ROLES = ("agent", "supervisor", "admin", "designer")

# Whether an agent takes handoffs now: only "online" with free capacity counts as someone online.
Presence = Literal["online", "away", "offline"]
ONLINE: Final[Presence] = "online"
AWAY: Final[Presence] = "away"
OFFLINE: Final[Presence] = "offline"
PRESENCES: Final[tuple[Presence, ...]] = get_args(Presence)
# Handoffs an agent holds at once before they stop counting as free (migration 0016's default).
DEFAULT_CAPACITY: Final = 3
MAX_CAPACITY: Final = 50


def is_presence(value: str) -> TypeGuard[Presence]:
    return value in PRESENCES


class Agent(Base):
    """A person who works handoffs in the console.  Supervisors and admins may see unmasked data."""

    __tablename__ = "agents"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    display_name = Column(String(80), nullable=False)
    password_hash = Column(String(255), nullable=False)
    role = Column(String(16), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)
    # Set by `attune agents disable`: the account cannot log in and its sessions are gone.
    disabled_at = Column(DateTime(timezone=True), nullable=True)
    # What the agent chose (a Presence) and how many handoffs they hold at once (handoff/workspace/).
    presence = Column(String(16), nullable=False, default=ONLINE, server_default=ONLINE)
    capacity = Column(Integer, nullable=False, default=DEFAULT_CAPACITY, server_default=str(DEFAULT_CAPACITY))


class LoginFailure(Base):
    """One failed console login (handoff/console/login_throttle.py counts them per account and per address).

    ``username`` is what was typed (an account that may not exist), ``address`` the client's.  Rows
    older than the throttle's window are deleted as new ones come in.
    """

    __tablename__ = "login_failures"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, index=True)
    address = Column(String(64), nullable=False, index=True)
    at = Column(DateTime(timezone=True), nullable=False, index=True)


class ConsoleSession(Base):
    """A logged-in browser: the cookie holds a random token, only its hash is stored."""

    __tablename__ = "console_sessions"

    token_hash = Column(String(64), primary_key=True)
    agent_id = Column(Integer, ForeignKey("agents.id"), nullable=False)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)
    expires_at = Column(DateTime(timezone=True), nullable=False)
    # Every console request refreshes this: an agent seen in the last minutes counts as online.
    last_seen_at = Column(DateTime(timezone=True), nullable=True)


# An emotion flag: waiting for a supervisor, or reviewed either way.
FlagStatus = Literal["pending", "accepted", "rejected"]
FLAG_PENDING: Final[FlagStatus] = "pending"
FLAG_ACCEPTED: Final[FlagStatus] = "accepted"
FLAG_REJECTED: Final[FlagStatus] = "rejected"
FLAG_STATUSES: Final[tuple[FlagStatus, ...]] = get_args(FlagStatus)


class EmotionFlag(Base):
    """An agent saying "this message was not <predicted>, it was <corrected>"; a supervisor reviews it."""

    __tablename__ = "emotion_flags"

    id = Column(Integer, primary_key=True)
    handoff_id = Column(String(36), ForeignKey("handoffs.id"), nullable=False)
    turn = Column(Integer, nullable=False)
    text = Column(Text, nullable=False)
    predicted = Column(String(32), nullable=False)
    corrected = Column(String(32), nullable=False)
    flagged_by = Column(Integer, ForeignKey("agents.id"), nullable=False)
    status = Column(String(16), nullable=False, default=FLAG_PENDING)
    reviewed_by = Column(Integer, ForeignKey("agents.id"), nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)


# A call-back job ends in one of Twilio's final call statuses, or is only simulated (no Twilio account).
FinalCallStatus = Literal["completed", "busy", "no-answer", "failed", "canceled"]
CALL_COMPLETED: Final[FinalCallStatus] = "completed"
CALL_BUSY: Final[FinalCallStatus] = "busy"
CALL_NO_ANSWER: Final[FinalCallStatus] = "no-answer"
CALL_FAILED: Final[FinalCallStatus] = "failed"
CALL_CANCELED: Final[FinalCallStatus] = "canceled"
FINAL_STATUSES: Final[tuple[FinalCallStatus, ...]] = get_args(FinalCallStatus)
# The statuses the service itself gives a call job (the others are what Twilio reports, stored as
# reported: handoff/callbacks/call_jobs.py).
JobStatus = Literal["pending", "placing", "rate_limited", "simulated", "error", "unknown"]
CALL_PENDING: Final[JobStatus] = "pending"
CALL_PLACING: Final[JobStatus] = "placing"
CALL_RATE_LIMITED: Final[JobStatus] = "rate_limited"
SIMULATED: Final[JobStatus] = "simulated"
CALL_ERROR: Final[JobStatus] = "error"
CALL_UNKNOWN: Final[JobStatus] = "unknown"
JOB_STATUSES: Final[tuple[JobStatus, ...]] = get_args(JobStatus)
# What Twilio answers when it accepts a call (``calls.create``) and reports nothing more.
TWILIO_QUEUED: Final = "queued"
# What the customer must still be told about their call-back (handoff/callbacks/call_runner.py):
# nobody answered, it could not be placed, or it was only simulated.
CallNotice = Literal["missed", "error", "simulated"]
NOTICE_MISSED: Final[CallNotice] = "missed"
NOTICE_ERROR: Final[CallNotice] = "error"
NOTICE_SIMULATED: Final[CallNotice] = "simulated"


class CallJob(Base):
    """One call-back request (handoff/callbacks/call_jobs.py has the life cycle).

    Its status moves pending -> placing -> Twilio's statuses (or simulated / error / rate_limited);
    ``placing`` is written before each request, so a crash or a retry can never ring twice for one
    attempt.  A busy or unanswered call goes back to ``pending`` once, with a later ``next_attempt_at``.
    """

    __tablename__ = "call_jobs"

    id = Column(String(36), primary_key=True)
    handoff_id = Column(String(36), ForeignKey("handoffs.id"), nullable=False)
    idempotency_key = Column(String(128), nullable=False, unique=True)
    to_number = Column(String(32), nullable=False)
    status = Column(String(24), nullable=False, default=CALL_PENDING)
    attempts = Column(Integer, nullable=False, default=0)
    twilio_sid = Column(String(64), nullable=True)
    request_json = Column(Text, nullable=True)
    last_error = Column(Text, nullable=True)
    # The customer's pseudonym (the daily limit counts per customer and per number).
    customer = Column(String(64), nullable=True, index=True)
    # When the next attempt is due, and the end of the window the customer agreed to (None: any time).
    next_attempt_at = Column(DateTime(timezone=True), nullable=True)
    window_end = Column(DateTime(timezone=True), nullable=True)
    # What the customer still has to be told in their conversation (a CallNotice: "missed", "error", ...).
    notice = Column(String(32), nullable=True)
    notified_at = Column(DateTime(timezone=True), nullable=True)
    # Every status with its time, oldest first (JSON list), shown to agents.
    trail_json = Column(Text, nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=_now, onupdate=_now)


EMOTION_PROCESSING = ("on", "off")


class Customer(Base):
    """One customer across channels (handoff/privacy/customers.py links their identities).

    ``id`` is pseudonymous ("cust-…"); ``emotion_processing`` is their current choice, and every
    change is in ``consent_events``.
    """

    __tablename__ = "customers"

    id = Column(String(40), primary_key=True)
    emotion_processing = Column(String(8), nullable=False, default="on")
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)


IDENTITY_KINDS = ("id", "phone", "email", "session")


class CustomerIdentity(Base):
    """A way a customer reaches us: a site login id, a phone number, an e-mail, a web session."""

    __tablename__ = "customer_identities"

    kind = Column(String(16), primary_key=True)
    value = Column(String(255), primary_key=True)
    customer_id = Column(String(40), ForeignKey("customers.id"), nullable=False, index=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)


class ConsentEvent(Base):
    """Append-only: every opt-out and opt-in of emotion processing, with when, where and how."""

    __tablename__ = "consent_events"

    id = Column(Integer, primary_key=True)
    customer_id = Column(String(40), ForeignKey("customers.id"), nullable=False, index=True)
    emotion_processing = Column(String(8), nullable=False)
    channel = Column(String(40), nullable=False)
    source = Column(String(40), nullable=False)  # conversation | web_switch | api
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)


class CustomerMerge(Base):
    """Two customers made one (handoff/privacy/customer_merges.py): what moved, so it can be undone.

    Written only when an authenticated caller presented verified identities of both together.  The
    removed customer's row is gone; what it was (id, creation, choice) and what moved from it
    (identities, consent events) are kept here until the merge is undone or the customer erased.
    """

    __tablename__ = "customer_merges"

    id = Column(String(36), primary_key=True)
    kept_id = Column(String(40), nullable=False, index=True)
    removed_id = Column(String(40), nullable=False, index=True)
    removed_created_at = Column(DateTime(timezone=True), nullable=False)
    removed_choice = Column(String(8), nullable=False)
    kept_choice_before = Column(String(8), nullable=False)
    choice_after = Column(String(8), nullable=False)
    # [{"kind", "value"}, ...] moved from the removed customer, and the ids of its consent events.
    identities_json = Column(Text, nullable=False)
    consent_events_json = Column(Text, nullable=False)
    # Which API asserted the identities together ("resolve" or "consent").
    source = Column(String(16), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)
    undone_at = Column(DateTime(timezone=True), nullable=True)


class ConsentEpoch(Base):
    """One row: a token that changes in the same transaction as anything that can change what
    ``POST /api/v1/customers/resolve`` answers for identities it answered before (an opt-out or
    opt-in, a merge, its undo, an erasure).  The Rasa servers cache answers stamped with it and
    ask "still this token?" (``If-None-Match``) instead of resolving again
    (handoff/privacy/consent_epoch.py).  Random, not a counter: a recreated database never repeats
    a token an instance may still hold.
    """

    __tablename__ = "consent_epoch"

    id = Column(Integer, primary_key=True)
    value = Column(String(32), nullable=False)
    changed_at = Column(DateTime(timezone=True), nullable=False, default=_now)


class AuditEntry(Base):
    """One automated decision with its explanation (handoff/audit/audit_log.py): append-only, hash-chained.

    ``entry_hash`` is sha256(``prev_hash`` + canonical JSON of the entry's record, ``seq`` and
    ``body_hash`` included); ``body_hash`` is sha256(``salt`` + canonical JSON of what it says about
    the customer: conversation, pseudonym, summary, explanation, inputs, sources).  The first entry
    chains from ``audit.GENESIS``; ``seq`` is unique, so two appends cannot both extend one head.
    An erasure or the retention period may empty the body (``redacted``): its place and hashes stay.
    """

    __tablename__ = "audit_entries"

    id = Column(Integer, primary_key=True)
    seq = Column(Integer, nullable=False, unique=True)
    # The writer's key for this decision: a retried delivery of the same entry is stored once.
    key = Column(String(128), nullable=False, unique=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    customer = Column(String(64), nullable=True, index=True)
    kind = Column(String(32), nullable=False)
    actor = Column(String(32), nullable=False)
    summary = Column(Text, nullable=False)
    explanation_json = Column(Text, nullable=False)
    inputs_json = Column(Text, nullable=False)
    sources_json = Column(Text, nullable=False)
    # The customer had opted out of emotion analysis: the entry holds no emotional data.
    opted_out = Column(Boolean, nullable=False, default=False)
    # When the decision was made, and when it reached the log (later if the writer had to queue it).
    created_at = Column(DateTime(timezone=True), nullable=False)
    recorded_at = Column(DateTime(timezone=True), nullable=False)
    # A random salt of the body's hash, erased with the body (then its hash reveals nothing).
    salt = Column(String(32), nullable=True)
    body_hash = Column(String(64), nullable=False)
    prev_hash = Column(String(64), nullable=False)
    entry_hash = Column(String(64), nullable=False)
    # Why and when the body was emptied ("erasure", "retention"); None while it is intact.
    redacted = Column(String(16), nullable=True)
    redacted_at = Column(DateTime(timezone=True), nullable=True)


class AuditHead(Base):
    """The audit chain's newest entry (one row).  Every append updates it first, which serialises
    appends (SQLite's write lock, Postgres's row lock); verify checks it against the last entry, so
    entries removed from the end are found too.
    """

    __tablename__ = "audit_head"

    id = Column(Integer, primary_key=True)
    seq = Column(Integer, nullable=False)
    entry_hash = Column(String(64), nullable=False)


class CannedResponse(Base):
    """A saved reply agents insert with "/" (handoff/workspace/canned.py); supervisors edit them.

    ``body`` may hold slots ({order_number}, {first_name}) filled from the handoff when inserted.
    """

    __tablename__ = "canned_responses"

    id = Column(Integer, primary_key=True)
    shortcut = Column(String(32), nullable=False, unique=True)
    title = Column(String(80), nullable=False)
    body = Column(Text, nullable=False)
    updated_by = Column(Integer, ForeignKey("agents.id"), nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=_now, onupdate=_now)


class HandoffNote(Base):
    """An internal note on a handoff: for colleagues only, never sent to the customer."""

    __tablename__ = "handoff_notes"

    id = Column(Integer, primary_key=True)
    handoff_id = Column(String(36), ForeignKey("handoffs.id"), nullable=False, index=True)
    author_id = Column(Integer, ForeignKey("agents.id"), nullable=False)
    body = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)


class HandoffTransfer(Base):
    """A held handoff given to a colleague (``by_agent`` is the holder, or a supervisor reassigning)."""

    __tablename__ = "handoff_transfers"

    id = Column(Integer, primary_key=True)
    handoff_id = Column(String(36), ForeignKey("handoffs.id"), nullable=False, index=True)
    from_agent = Column(Integer, ForeignKey("agents.id"), nullable=True)
    to_agent = Column(Integer, ForeignKey("agents.id"), nullable=False)
    by_agent = Column(Integer, ForeignKey("agents.id"), nullable=False)
    note = Column(Text, nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)


class HandoffSearch(Base):
    """What console search reads for one handoff (handoff/history/search_index.py keeps it in step).

    Texts are lower-cased twice over: as stored (``clear_text``) and with every kind of personal data
    masked (``masked_text``), so a role that sees data masked searches only what it sees.  The row
    goes with its handoff (an erasure or the retention period deletes both).
    """

    __tablename__ = "handoff_search"

    handoff_id = Column(String(36), ForeignKey("handoffs.id"), primary_key=True)
    # The payload's customer pseudonym and order number (slots.order_id), for exact look-ups.
    customer = Column(String(64), nullable=True, index=True)
    order_number = Column(String(64), nullable=True, index=True)
    clear_text = Column(Text, nullable=False)
    masked_text = Column(Text, nullable=False)
    # The handoff's updated_at when this row was built: a different one means build it again.
    source_updated_at = Column(DateTime(timezone=True), nullable=False, index=True)


# --- analytics (issue 21, handoff/analytics/): filled from Rasa's event broker -----------------------
# Each fact row has a unique (conversation_id, event_key): ``event_key`` hashes the broker event as
# published, so an event delivered twice is one row (handoff/analytics/events.py).


class AnalyticsCursor(Base):
    """How far the consumer has read one source (the SQL broker's last event id), committed with the rows."""

    __tablename__ = "analytics_cursor"

    source = Column(String(64), primary_key=True)
    position = Column(BigInteger, nullable=False)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=_now)


class AnalyticsConversation(Base):
    """One conversation seen on the broker; the counters move only when a new fact row is inserted."""

    __tablename__ = "analytics_conversations"

    conversation_id = Column(String(255), primary_key=True)
    # From the namespaced conversation id (handoff/shared/conversation_ids.py): web, rest, sms, whatsapp.
    channel = Column(String(16), nullable=True, index=True)
    started_at = Column(DateTime(timezone=True), nullable=False, index=True)
    last_event_at = Column(DateTime(timezone=True), nullable=False)
    turns = Column(Integer, nullable=False, default=0, server_default="0")
    escalations = Column(Integer, nullable=False, default=0, server_default="0")
    first_escalation_at = Column(DateTime(timezone=True), nullable=True)
    first_escalation_turn = Column(Integer, nullable=True)
    # The latest handoff_status slot: delivered | queued | rejected | failed (None: never handed off).
    handoff_status = Column(String(16), nullable=True)
    # When that slot was set: a resent, older status event delivered later does not replace it.
    handoff_status_at = Column(DateTime(timezone=True), nullable=True)


class AnalyticsTurn(Base):
    """One customer turn, from its ``turn_record`` (docs/tracker-budget.md); scores only with consent."""

    __tablename__ = "analytics_turns"
    __table_args__ = (UniqueConstraint("conversation_id", "event_key", name="uq_analytics_turns_event"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(255), nullable=False)
    event_key = Column(String(32), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False, index=True)
    turn = Column(Integer, nullable=False)
    intent = Column(String(64), nullable=True)
    confidence = Column(Float, nullable=True)
    outcome = Column(String(64), nullable=True)
    tone = Column(String(16), nullable=True)
    decision = Column(String(16), nullable=True)
    emotion_processing = Column(String(3), nullable=False)
    # Only when the record carries them, that is with the customer's consent to emotion analysis.
    frustration = Column(Float, nullable=True)
    distress = Column(Float, nullable=True)
    # The top emotion label, also only with consent (migration 0023; the drift charts count it).
    emotion = Column(String(32), nullable=True)


class AnalyticsEscalation(Base):
    """An escalation decision (offer a person, offer a call-back, hand off) and its reason code."""

    __tablename__ = "analytics_escalations"
    __table_args__ = (
        UniqueConstraint("conversation_id", "event_key", name="uq_analytics_escalations_event"),
    )

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(255), nullable=False)
    event_key = Column(String(32), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False, index=True)
    turn = Column(Integer, nullable=True)
    decision = Column(String(16), nullable=False)
    # One of handoff/shared/payload_contract.py REASONS, derived as the handoff payload does.
    reason = Column(String(32), nullable=False)


class AnalyticsCallback(Base):
    """How a call-back request went (the ``callback_status`` slot)."""

    __tablename__ = "analytics_callbacks"
    __table_args__ = (UniqueConstraint("conversation_id", "event_key", name="uq_analytics_callbacks_event"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(255), nullable=False)
    event_key = Column(String(32), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False, index=True)
    status = Column(String(32), nullable=False)


class AnalyticsCsat(Base):
    """A CSAT answer (the ``csat_answer`` slot): a score 1-5 and the customer's optional comment."""

    __tablename__ = "analytics_csat"
    __table_args__ = (UniqueConstraint("conversation_id", "event_key", name="uq_analytics_csat_event"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(255), nullable=False)
    event_key = Column(String(32), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False, index=True)
    score = Column(Integer, nullable=False)
    comment = Column(Text, nullable=True)


class AnalyticsExposure(Base):
    """A conversation's exposure to one experiment's variant (written by the experiments issue)."""

    __tablename__ = "analytics_exposures"
    __table_args__ = (
        UniqueConstraint("conversation_id", "experiment", name="uq_analytics_exposures_experiment"),
    )

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(255), nullable=False)
    experiment = Column(String(64), nullable=False)
    variant = Column(String(64), nullable=False)
    at = Column(DateTime(timezone=True), nullable=False, index=True)


class AnalyticsErased(Base):
    """A conversation erased at ``erased_at`` (migration 0025, handoff/analytics/erased.py): ingestion
    drops its broker events dated at or before then, so a queued or resent event cannot bring it back.
    """

    __tablename__ = "analytics_erased"

    # SHA-256 (hex) of the conversation id, never the id: an SMS conversation's id is a phone number.
    conversation_hash = Column(String(64), primary_key=True)
    erased_at = Column(DateTime(timezone=True), nullable=False, index=True)


class DriftCheck(Base):
    """One drift chart's point on one UTC day (handoff/analytics/drift.py, migration 0023).

    ``status`` ``out_of_control`` is the stored alert; a day that could not be checked has one
    ``volume`` row saying why.  Counts and shares only, never a conversation id.
    """

    __tablename__ = "drift_checks"
    __table_args__ = (UniqueConstraint("day", "chart", "key", name="uq_drift_checks_point"),)

    id = Column(Integer, primary_key=True, autoincrement=True)
    day = Column(Date, nullable=False, index=True)
    chart = Column(String(32), nullable=False)
    # The intent or emotion label of a share chart; "" for the others.
    key = Column(String(64), nullable=False)
    value = Column(Float, nullable=False)
    center = Column(Float, nullable=False)
    lower = Column(Float, nullable=False)
    upper = Column(Float, nullable=False)
    n = Column(Integer, nullable=False)
    status = Column(String(16), nullable=False)
    checked_at = Column(DateTime(timezone=True), nullable=False, default=_now)


# Where an idle-CSAT candidate stands (handoff/analytics/idle_csat.py, migration 0022): waiting out
# the idle time, being triggered by one worker, triggered, overtaken by a message, given up on after
# failed calls, or found too late to be worth asking.
IdleStatus = Literal["armed", "claimed", "triggered", "cleared", "failed", "stale"]
IDLE_ARMED: Final[IdleStatus] = "armed"
IDLE_CLAIMED: Final[IdleStatus] = "claimed"
IDLE_TRIGGERED: Final[IdleStatus] = "triggered"
IDLE_CLEARED: Final[IdleStatus] = "cleared"
IDLE_FAILED: Final[IdleStatus] = "failed"
IDLE_STALE: Final[IdleStatus] = "stale"


class CsatIdle(Base):
    """A conversation whose bot last asked "anything else?": armed by ingestion, cleared by the
    customer's next message, claimed once and triggered by the idle worker (one row per conversation).
    """

    __tablename__ = "csat_idle"

    conversation_id = Column(String(255), primary_key=True)
    # The "anything else?" response (utter_you_are_welcome, utter_handback) and when Rasa sent it;
    # None on a row that has only seen the customer write.
    prompt = Column(String(64), nullable=True)
    prompted_at = Column(DateTime(timezone=True), nullable=True)
    # The latest customer message or other bot message seen: a prompt older than it never re-arms.
    activity_at = Column(DateTime(timezone=True), nullable=True)
    status = Column(String(16), nullable=False)
    attempts = Column(Integer, nullable=False, default=0, server_default="0")
    next_try_at = Column(DateTime(timezone=True), nullable=True)
    claimed_at = Column(DateTime(timezone=True), nullable=True)
    triggered_at = Column(DateTime(timezone=True), nullable=True)
    # Why the last call failed (short, for people); None after a success.
    error = Column(String(200), nullable=True)


class CsatAnswer(Base):
    """A customer's CSAT answer as the action server sent it (handoff/queue/csat.py, migration 0020)."""

    __tablename__ = "csat_answers"

    # The action server's answer id: the same answer sent again is this row, never a second one.
    id = Column(String(64), primary_key=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    # The conversation's latest handoff when the answer arrived; None for a bot-only conversation.
    handoff_id = Column(String(36), ForeignKey("handoffs.id"), nullable=True, index=True)
    score = Column(Integer, nullable=False)
    comment = Column(Text, nullable=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=_now)
