"""Renames conversations stored before conversation ids were namespaced by channel (issue 13).

Rasa keys a conversation by its sender id.  Before, every channel used the client's own id, so a
REST client whose ``sender`` was an SMS customer's phone number joined that customer's
conversation.  Now each channel writes under its own prefix (handoff/shared/conversation_ids.py:
``rest:``, ``web:``, ``sms:``, ``whatsapp:``), and this renames what was stored under the old ids,
so a returning SMS customer finds their conversation again and nobody else can:

- Rasa's SQL tracker store (table ``events``, one row per event; user events carry their
  ``input_channel`` in the JSON ``data``);
- the action server's contact history (``attune_contacts``, ATTUNE_STORE_DATABASE_URL);
- the conversation ids inside the handoffs and audit entries still waiting in the action server's
  outbox (``handoff_outbox``, ``audit_queue``, ATTUNE_OUTBOX_DATABASE_URL): once delivered, the
  handoff service pauses and answers the conversation they name.

A conversation's channel is the most trusted one any of its messages came through: Twilio (the
number is verified), then socket.io, then REST.  Before namespacing a REST client could write into
an SMS customer's conversation; filing such a conversation under ``rest:`` would hand the SMS
customer's history to anybody who sends that number as a REST sender, while ``sms:`` is reachable
only by that number.  A conversation no customer channel wrote to (only Rasa's HTTP API or ``rasa
shell`` did) keeps an id that already has a prefix, and goes under ``rest:`` otherwise.

Idempotent: an id already under its channel's prefix is kept, so running it at every start-up
(bot/launcher.py) renames only what an older version stored.  Each database is changed in one
transaction, with the tables locked against writers.  Two stored conversations that end up with
the same id (an older Rasa wrote ``+44…`` after a newer one wrote ``sms:+44…``) become one, in
the order their events were written.  An id that would not fit the 255-character column once
prefixed is left as it is: no channel produces it any more, so nobody reaches it again, and
retention removes it (handoff/privacy/personal_data.py).
"""

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import column, create_engine, delete, event, inspect, select, table, update
from sqlalchemy.engine import Connection, Engine

from handoff.shared.conversation_ids import channel_of, legacy_conversation

logger = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ID_CHARS = 255  # Rasa's events.sender_id and attune_contacts.sender_id: String(255)
# Most trusted first: the channel of a conversation that several reached (see the docstring).
CHANNEL_TRUST = ("twilio", "socketio", "rest")

events = table("events", column("id"), column("sender_id"), column("type_name"), column("data"))
contacts = table(
    "attune_contacts", column("customer_key"), column("sender_id"), column("channel"), column("last_seen")
)
outbox = table("handoff_outbox", column("idempotency_key"), column("payload"), column("status"))
audit_queue = table("audit_queue", column("id"), column("entry"))


@dataclass(frozen=True)
class Migrated:
    """How many conversations, contact rows and queued payloads were renamed."""

    conversations: int = 0
    contacts: int = 0
    queued: int = 0

    def __str__(self) -> str:
        return (
            f"{self.conversations} conversation(s) in the tracker store, {self.contacts} contact history "
            f"row(s), {self.queued} queued handoff(s) and audit entries"
        )


def namespaced(sender_id: str, input_channels: Iterable[str | None]) -> str:
    """The id of a stored conversation whose user messages came through ``input_channels``."""
    seen = set(input_channels)
    # Messages from no customer channel (Rasa's HTTP API, ``rasa shell``) say nothing about it.
    channel = next((trusted for trusted in CHANNEL_TRUST if trusted in seen), None)
    if channel is None and channel_of(sender_id) is not None:
        return sender_id
    return legacy_conversation(sender_id, channel or "rest")


def migrate_tracker_store(db_url: str) -> int:
    """Renames the tracker store's conversations; returns how many were renamed."""
    return len(_renamed_conversations(db_url))


def migrate_action_store(
    store_url: str, outbox_url: str, renamed: Mapping[str, str] | None = None
) -> Migrated:
    """Renames the conversation ids in the contact history and the outbox.

    ``renamed`` (old id → new id, from the tracker store) wins over the channel a row records, so
    a conversation several channels reached gets the same id everywhere.
    """
    names = dict(renamed or {})
    return Migrated(
        contacts=_with_engine(store_url, _rename_contacts, 0, names),
        queued=_with_engine(outbox_url, _rename_queued, 0, names),
    )


def migrate_conversation_ids(tracker_url: str, store_url: str, outbox_url: str) -> Migrated:
    """Everything above, the tracker store first (its renames are passed on to the others)."""
    renamed = _renamed_conversations(tracker_url)
    action_store = migrate_action_store(store_url, outbox_url, renamed)
    return Migrated(len(renamed), action_store.contacts, action_store.queued)


def _renamed_conversations(db_url: str) -> dict[str, str]:
    nothing: dict[str, str] = {}
    return _with_engine(db_url, _rename_conversations, nothing)


def _missing_sqlite_file(url: str) -> bool:
    """A SQLite database that was never created holds nothing to rename (and is not created here)."""
    if not url.startswith("sqlite"):
        return False
    path = url.split(":///", 1)[-1]
    return bool(path) and path != ":memory:" and not Path(path).is_file()


def _engine(url: str) -> Engine:
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        # pysqlite starts a transaction only at the first write, so the reads before it would see
        # a state another writer may change: take the write lock when the transaction begins.
        event.listen(engine, "connect", _sqlite_autocommit_driver)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _with_engine(url: str, work: Callable[..., T], empty: T, *args: Any) -> T:
    """``work(connection, *args)`` in one transaction on ``url``; ``empty`` when there is no database."""
    if _missing_sqlite_file(url):
        return empty
    engine = _engine(url)
    try:
        with engine.begin() as connection:
            return work(connection, *args)
    finally:
        engine.dispose()


def _lock(connection: Connection, *names: str) -> None:
    # SQLite's BEGIN IMMEDIATE already keeps writers out; PostgreSQL locks table by table.
    if connection.dialect.name == "postgresql":
        for name in names:
            connection.exec_driver_sql(f"LOCK TABLE {name} IN EXCLUSIVE MODE")  # names are ours


def _has_tables(connection: Connection, *names: str) -> bool:
    found = inspect(connection)
    return all(found.has_table(name) for name in names)


def _input_channel(data: str | None) -> str | None:
    try:
        channel = json.loads(data or "{}").get("input_channel")
    except (ValueError, AttributeError):
        return None
    return channel if isinstance(channel, str) else None


def _fits(old: str, new: str) -> bool:
    if len(new) <= MAX_ID_CHARS:
        return True
    logger.warning("conversation %r left as it is: %d characters once namespaced", old[:40], len(new))
    return False


def _rename_conversations(connection: Connection) -> dict[str, str]:
    if not _has_tables(connection, "events"):
        return {}
    _lock(connection, "events")
    channels: dict[str, list[str | None]] = {
        sender: [] for sender in connection.execute(select(events.c.sender_id).distinct()).scalars()
    }
    users = connection.execute(select(events.c.sender_id, events.c.data).where(events.c.type_name == "user"))
    for sender, data in users:
        channels[sender].append(_input_channel(data))
    renamed = {sender: namespaced(sender, seen) for sender, seen in channels.items()}
    renamed = {old: new for old, new in renamed.items() if new != old and _fits(old, new)}
    for old, new in renamed.items():
        connection.execute(update(events).where(events.c.sender_id == old).values(sender_id=new))
    return renamed


def _new_id(old: str, channel: str | None, renamed: Mapping[str, str]) -> str:
    """A row's new conversation id: the tracker store's rename, else from the channel the row
    recorded; unchanged when it already has a prefix or its channel is not known.
    """
    if old in renamed:
        return renamed[old]
    if channel is None or channel_of(old) is not None:
        return old
    new = legacy_conversation(old, channel)
    return new if _fits(old, new) else old


def _rename_contacts(connection: Connection, renamed: Mapping[str, str]) -> int:
    if not _has_tables(connection, "attune_contacts"):
        return 0
    _lock(connection, "attune_contacts")
    rows = connection.execute(
        select(contacts.c.customer_key, contacts.c.sender_id, contacts.c.channel, contacts.c.last_seen)
    ).all()
    kept = {(row.customer_key, row.sender_id): row.last_seen for row in rows}
    changed = 0
    for key, old, channel, seen in rows:
        new = _new_id(old, channel, renamed)
        if new == old:
            continue
        this = (contacts.c.customer_key == key) & (contacts.c.sender_id == old)
        if (key, new) in kept:
            # (customer, conversation) is the key: two rows became one, and the latest visit stays.
            if seen > kept[(key, new)]:
                target = (contacts.c.customer_key == key) & (contacts.c.sender_id == new)
                connection.execute(update(contacts).where(target).values(channel=channel, last_seen=seen))
                kept[(key, new)] = seen
            connection.execute(delete(contacts).where(this))
        else:
            connection.execute(update(contacts).where(this).values(sender_id=new))
            kept[(key, new)] = seen
        changed += 1
    return changed


def _renamed_payload(text: str, renamed: Mapping[str, str]) -> str | None:
    """The JSON payload with its ``conversation_id`` renamed; None when it stays as it is."""
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    old = payload.get("conversation_id") if isinstance(payload, dict) else None
    if not isinstance(old, str):
        return None
    channel = payload.get("channel")
    new = _new_id(old, channel if isinstance(channel, str) else None, renamed)
    return None if new == old else json.dumps({**payload, "conversation_id": new}, ensure_ascii=False)


# The action server's queues: each row's JSON names the conversation it is about.
QUEUES = (
    (outbox, outbox.c.idempotency_key, outbox.c.payload),
    (audit_queue, audit_queue.c.id, audit_queue.c.entry),
)


def _rename_queued(connection: Connection, renamed: Mapping[str, str]) -> int:
    changed = 0
    for queue, key, document in QUEUES:
        if not _has_tables(connection, queue.name):
            continue
        _lock(connection, queue.name)
        for row_key, old in connection.execute(select(key, document)).all():
            new = _renamed_payload(old, renamed)
            if new is not None:
                connection.execute(update(queue).where(key == row_key).values({document.name: new}))
                changed += 1
    return changed
