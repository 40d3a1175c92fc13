"""Rasa's SQL tracker store, whose errors fail one request instead of stopping the Rasa server.

Rasa 3.6's ``SQLTrackerStore.session_scope`` turns *any* ``ValueError`` raised while a
conversation is read or written into ``print_error_and_exit``: one id SQLite cannot encode (a
lone surrogate) or PostgreSQL refuses (NUL) stopped the whole server.  The ``ValueError`` it
means is a missing PostgreSQL schema (``POSTGRESQL_SCHEMA``); this store checks that once, when
it is created, so a wrong schema still stops Rasa at start-up, and afterwards raises
``TrackerStoreFailure`` for whatever goes wrong with one conversation.

Rasa wraps every tracker store in a ``FailSafeTrackerStore``, which hides errors: a failed read
becomes a brand-new conversation, a failed write goes to memory only, and the customer gets
answers from a bot that forgot them.  ``install`` makes both fail the request instead; the
channels answer the customer honestly (bot/components/turn_guard.py).

endpoints.yml (the same keys as ``type: SQL``: ``dialect``, ``url``, ``port``, ``db``,
``username``, ``password``, ``login_db``, ``query``)::

    tracker_store:
      type: bot.components.tracker_store.GuardedSQLTrackerStore
      dialect: sqlite
      db: var/tracker.db
"""

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore, ensure_schema_exists
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from sqlalchemy.orm import Session

# The emotion reading (bot.constants.PARSE_EMOTION) and what in it serves only the turn it was
# read in: the message embedding the action server compares with the next message (it keeps its
# own compact copy, actions/empathy_tracking.py).  ~2.3 KB per stored user event as floats
# ("embedding", before issue 18), 512 characters packed ("vector"); docs/tracker-budget.md.
EMOTION_KEY = "emotion"
TURN_ONLY_EMOTION_KEYS = frozenset({"vector", "embedding"})


class TrackerStoreFailure(RasaException):
    """Reading or writing one conversation failed; the request fails, the server goes on."""


class GuardedSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` that raises ``TrackerStoreFailure`` where Rasa's would exit the process."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        with contextlib.closing(self.sessionmaker()) as session:
            try:
                ensure_schema_exists(session)  # Rasa's check, once; its ValueError names the schema
            except ValueError as missing:
                raise RasaException(
                    f"the PostgreSQL schema '{missing}' (POSTGRESQL_SCHEMA) does not exist in the "
                    f"tracker store's database: create it or unset POSTGRESQL_SCHEMA"
                ) from missing

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Stores (and streams to the event broker) the new events without their turn-only data."""
        drop_turn_only_data(tracker)
        await super().save(tracker)

    @contextlib.contextmanager
    def session_scope(self) -> Iterator[Session]:
        session = self.sessionmaker()
        try:
            yield session
        except Exception as error:
            raise TrackerStoreFailure(f"the tracker store failed: {error!r}") from error
        finally:
            session.close()


def drop_turn_only_data(tracker: DialogueStateTracker) -> None:
    """Drops the message embedding from the user events' emotion readings.

    The reading is replaced, not edited: the parsed message that produced it is left as it was.
    (A dictionary lookup per user event: nothing next to Rasa serialising the tracker anyway.)
    """
    for event in tracker.events:
        if not isinstance(event, UserUttered):
            continue
        reading = event.parse_data.get(EMOTION_KEY)
        if not isinstance(reading, dict) or not TURN_ONLY_EMOTION_KEYS & reading.keys():
            continue
        event.parse_data[EMOTION_KEY] = {
            key: value for key, value in reading.items() if key not in TURN_ONLY_EMOTION_KEYS
        }


def _fail_the_request(self: FailSafeTrackerStore, error: Exception) -> None:
    if isinstance(error, TrackerStoreFailure):
        raise error
    raise TrackerStoreFailure(f"the tracker store failed: {error!r}") from error


@functools.lru_cache(maxsize=1)
def install() -> None:
    """Tracker-store errors fail the request that met them (once per process)."""
    FailSafeTrackerStore.on_tracker_store_error = _fail_the_request
    FailSafeTrackerStore.on_tracker_store_retrieve_error = _fail_the_request
