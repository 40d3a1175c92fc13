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
from rasa.shared.exceptions import RasaException
from sqlalchemy.orm import Session


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

    @contextlib.contextmanager
    def session_scope(self) -> Iterator[Session]:
        session = self.sessionmaker()
        try:
            yield session
        except Exception as error:
            raise TrackerStoreFailure(f"the tracker store failed: {error!r}") from error
        finally:
            session.close()


def _fail_the_request(self: FailSafeTrackerStore, error: Exception) -> None:
    if isinstance(error, TrackerStoreFailure):
        raise error
    raise TrackerStoreFailure(f"the tracker store failed: {error!r}") from error


@functools.lru_cache(maxsize=1)
def install() -> None:
    """Tracker-store errors fail the request that met them (once per process)."""
    FailSafeTrackerStore.on_tracker_store_error = _fail_the_request
    FailSafeTrackerStore.on_tracker_store_retrieve_error = _fail_the_request
