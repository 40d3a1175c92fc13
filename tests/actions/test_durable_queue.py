"""One durable queue for the handoff outbox and the audit queue: the tables they always had, one behaviour.

Databases written before the queues were one implementation (the outbox through the ORM, the audit
queue through Core) are created here with the exact DDL those versions wrote, and keep working.
"""

import asyncio
import sqlite3
from pathlib import Path

from actions.audit_queue import AuditQueue, audit_flusher
from actions.clients.audit import AuditClient
from actions.clients.handoff import HandoffClient
from actions.handoff_delivery import outbox_flusher
from actions.outbox import Outbox
from tests.support.ports import free_port

# What the ORM outbox and the Core audit queue created (SQLite), with one row each from that time.
EARLIER_SCHEMA = """
CREATE TABLE handoff_outbox (
    idempotency_key VARCHAR(128) NOT NULL,
    payload TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at FLOAT NOT NULL,
    last_error TEXT,
    created_at FLOAT NOT NULL,
    delivered_at FLOAT,
    PRIMARY KEY (idempotency_key)
);
CREATE INDEX ix_handoff_outbox_status ON handoff_outbox (status);
CREATE TABLE audit_queue (
    id INTEGER NOT NULL,
    "key" VARCHAR(128) NOT NULL,
    entry TEXT NOT NULL,
    status VARCHAR(16) NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at FLOAT NOT NULL,
    last_error TEXT,
    created_at FLOAT NOT NULL,
    PRIMARY KEY (id),
    UNIQUE ("key")
);
CREATE INDEX ix_audit_queue_status ON audit_queue (status);
INSERT INTO handoff_outbox VALUES ('h-old', '{"idempotency_key": "h-old", "reason": "frustration"}',
    'pending', 3, 100.0, 'ConnectionRefused', 50.0, NULL);
INSERT INTO handoff_outbox VALUES ('h-done', '{}', 'delivered', 0, 40.0, NULL, 40.0, 41.0);
INSERT INTO audit_queue VALUES (1, 'a-old', '{"key": "a-old", "kind": "tone_change"}',
    'pending', 1, 100.0, 'ConnectionRefused', 50.0);
"""


def earlier_database(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        connection.executescript(EARLIER_SCHEMA)
    return f"sqlite:///{path}"


def test_a_database_from_before_keeps_its_items_and_takes_new_ones(tmp_path: Path) -> None:
    url = earlier_database(tmp_path / "outbox.db")
    outbox, queue = Outbox.open(url), AuditQueue.open(url)

    old = outbox.get("h-old")
    assert old is not None and (old.body["reason"], old.attempts, old.status) == ("frustration", 3, "pending")
    assert outbox.get("h-done").status == "delivered"  # type: ignore[union-attr]
    assert [item.key for item in outbox.due(now=100.0)] == ["h-old"]
    assert [item.key for item in queue.due(now=100.0)] == ["a-old"]

    outbox.put({"idempotency_key": "h-new"}, now=200.0)
    assert queue.put_all([{"key": "a-old"}, {"key": "a-new"}], now=200.0) == 1  # a-old is there already
    assert outbox.pending_count() == 2 and queue.pending_count() == 2


def test_each_queue_keeps_its_own_receipt_policy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    outbox, queue = Outbox.open(url), AuditQueue.open(url)
    outbox.put({"idempotency_key": "h-1", "transcript": "my card is 4111"}, now=1.0)
    queue.put_all([{"key": "a-1", "summary": "calm_direct"}], now=1.0)

    outbox.delivered("h-1", now=2.0)
    queue.delivered("a-1")

    receipt = outbox.get("h-1")
    assert receipt is not None and receipt.status == "delivered" and receipt.body == {}  # the payload is gone
    assert queue.get("a-1") is None  # an entry the service holds leaves no trace here


def test_a_rejected_item_is_the_dead_letter_and_is_never_due_again(tmp_path: Path) -> None:
    for queue in (
        Outbox.open(f"sqlite:///{tmp_path / 'o.db'}"),
        AuditQueue.open(f"sqlite:///{tmp_path / 'a.db'}"),
    ):
        key = "idem" if isinstance(queue, Outbox) else "k"
        queue.put({"idempotency_key": "idem", "key": "k"}, now=1.0)
        queue.rejected(key, "422: no such kind")
        queue.failed(key, "late failure", now=2.0)  # a failure after the verdict changes nothing

        item = queue.get(key)
        assert item is not None and (item.status, item.attempts, item.last_error) == (
            "rejected",
            0,
            "422: no such kind",
        )
        assert queue.due(now=10_000.0) == [] and queue.pending_count() == 0


def test_both_flushers_start_again_in_a_new_event_loop(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    nowhere = f"http://127.0.0.1:{free_port()}"
    flushers = [
        outbox_flusher(Outbox.open(url), HandoffClient(nowhere, timeout=0.2), interval=0.01),
        audit_flusher(AuditQueue.open(url), AuditClient(nowhere, timeout=0.2), interval=0.01),
    ]

    async def start() -> set[str]:
        for flusher in flushers:
            flusher.ensure_running()
            flusher.ensure_running()  # idempotent within one loop
        await asyncio.sleep(0.02)
        return {task.get_name() for task in asyncio.all_tasks()}

    async def stop() -> None:
        for flusher in flushers:
            await flusher.stop()

    first, second = asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        in_first = first.run_until_complete(start())
        # The first loop stops turning with the tasks still pending in it (a restarted server, the
        # next test): the flushers must run in the loop that asks now, not stay tied to the old one.
        in_second = second.run_until_complete(start())
        second.run_until_complete(stop())
    finally:
        for loop in (first, second):
            for task in asyncio.all_tasks(loop):
                task.cancel()
                loop.run_until_complete(asyncio.wait([task]))
            loop.close()

    names = {"handoff outbox flusher", "audit queue flusher"}
    assert names <= in_first and names <= in_second
    assert len([name for name in in_second if name in names]) == 2  # one task each, not two
