"""A durable queue of audit entries on their way to the handoff service, flushed in the background.

The same durable queue as the handoff outbox (actions/durable_queue.py), in its own table of the
same database, sent by the same kind of flusher (actions/queue_flusher.py), which runs from the
action server's start (actions/server.py): an entry is written to disk first, and leaves only when
the service has confirmed it (then it is deleted here: the service holds the record, and a second
copy of someone's explanation would only be more data to protect).  While the service is down the
oldest entry is retried with backoff and the ones behind it wait, so the log keeps decision order.
An entry the service refuses for good stays here as ``rejected`` with the reason.

The table is the one the queue always had (``audit_queue``): existing databases keep working.
"""

from sqlalchemy import MetaData

from actions.clients.audit import AuditClient, Recorded
from actions.durable_queue import DurableQueue, Layout, QueueItem, id_ordered_table
from actions.queue_flusher import FLUSH_INTERVAL_SECONDS, Attempt, QueueFlusher, SendOne, attempt
from actions.queue_flusher import flush_once as flush_queue

metadata = MetaData()
queue_table = id_ordered_table("audit_queue", metadata, key="key", body="entry")  # the id: decision order

AUDIT_LAYOUT = Layout(table=queue_table, key="key", body="entry", order="id", in_order=True)
WHAT = "audit entry"


class AuditQueue(DurableQueue):
    """Audit entries not yet confirmed by the handoff service (a table in ATTUNE_OUTBOX_DATABASE_URL)."""

    LAYOUT = AUDIT_LAYOUT


def _sender(queue: AuditQueue, client: AuditClient, now: float | None = None) -> SendOne:
    async def send_one(item: QueueItem) -> Attempt[Recorded]:
        return await attempt(queue, item, client.send, WHAT, now)

    return send_one


async def flush_once(queue: AuditQueue, client: AuditClient, now: float | None = None) -> int:
    """One pass in decision order; stops at the first entry the service cannot take yet."""
    return await flush_queue(queue, _sender(queue, client, now), now)


def audit_flusher(
    queue: AuditQueue, client: AuditClient, interval: float = FLUSH_INTERVAL_SECONDS
) -> QueueFlusher:
    """Sends queued entries every ``interval`` seconds, from the action server's start to its stop."""
    return QueueFlusher("audit queue flusher", queue, _sender(queue, client), interval)
