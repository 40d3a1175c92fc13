"""The durable outbox for handoffs: a handoff is on disk before the first delivery attempt.

It leaves the pending list only when the handoff service has confirmed it, and then its payload is
dropped (the row stays as a receipt: key, ``delivered``, when): the service holds it, and a second
copy would only be more personal data to govern.

If the service is down or slow, nothing is lost: pending handoffs are retried with backoff (by
``actions.handoff_delivery``) until the service answers, each on its own schedule.  The backoff is
capped (actions/durable_queue.py) so that a handoff the customer was told is saved reaches the
service within seconds of it answering again, without any other traffic (the flusher runs from
start-up).  A payload the service rejects for good is kept as ``rejected`` with the reason, for
someone to look at.  The idempotency key makes a duplicate delivery harmless.

The table is the one the outbox always had (``handoff_outbox``): existing databases keep working.
"""

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

from actions.durable_queue import PENDING, DurableQueue, Layout

metadata = MetaData()
outbox_table = Table(
    "handoff_outbox",
    metadata,
    Column("idempotency_key", String(128), primary_key=True),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False, default=PENDING, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float, nullable=True),
)

OUTBOX_LAYOUT = Layout(
    table=outbox_table,
    key="idempotency_key",
    body="payload",
    order="created_at",
    in_order=False,
    delivered_at="delivered_at",
)


class Outbox(DurableQueue):
    """Handoffs on their way to the handoff service (ATTUNE_OUTBOX_DATABASE_URL)."""

    LAYOUT = OUTBOX_LAYOUT
