"""CSAT answers on their way to the handoff service, flushed in the background.

The same durable queue as the handoff outbox and the audit queue (actions/durable_queue.py), in its
own table of the outbox database: an answer is written to disk in the action that took it, so the
customer's thanks never waits on the handoff service, and leaves when the service confirms it
(``POST /api/v1/csat`` is idempotent on the answer's id, so a retry after a lost reply is harmless).
An answer the service refuses for good stays here as ``rejected`` with the reason.  Analytics does
not depend on this: it reads the ``csat_answer`` slot from Rasa's event broker.
"""

from sqlalchemy import MetaData

from actions.clients.csat import CsatClient
from actions.durable_queue import DurableQueue, Layout, QueueItem, id_ordered_table
from actions.queue_flusher import FLUSH_INTERVAL_SECONDS, Attempt, QueueFlusher, SendOne, attempt

metadata = MetaData()
queue_table = id_ordered_table("csat_queue", metadata, key="answer_id", body="answer")

CSAT_LAYOUT = Layout(table=queue_table, key="answer_id", body="answer", order="id", in_order=False)
WHAT = "CSAT answer"


class CsatQueue(DurableQueue):
    """CSAT answers not yet confirmed by the handoff service (a table in ATTUNE_OUTBOX_DATABASE_URL)."""

    LAYOUT = CSAT_LAYOUT


def _sender(queue: CsatQueue, client: CsatClient, now: float | None = None) -> SendOne:
    async def send_one(item: QueueItem) -> Attempt[bool]:
        return await attempt(queue, item, client.send, WHAT, now)

    return send_one


def csat_flusher(
    queue: CsatQueue, client: CsatClient, interval: float = FLUSH_INTERVAL_SECONDS
) -> QueueFlusher:
    """Sends queued answers every ``interval`` seconds, from the action server's start to its stop."""
    return QueueFlusher("CSAT queue flusher", queue, _sender(queue, client), interval)
