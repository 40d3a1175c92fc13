"""Rasa's Redis lock store with atomic ticket updates, for several Rasa servers sharing one Redis.

Rasa 3.6's ``RedisLockStore`` changes a conversation's lock by reading it (GET), changing it in
Python and writing it back (SET).  When two messages of one conversation reach two instances at
the same moment, both read the same lock: both draw the same ticket, or one write undoes the
other, both instances then run the conversation at once, and one message's events never reach
the tracker store although its sender got a reply (RasaHQ/rasa#9213; tests/scale/ reproduces
it).  This subclass does each change in one Redis transaction (WATCH, then MULTI/EXEC, redone on
a conflict).  Rasa's ticket logic, keys and stored JSON are unchanged.

endpoints.yml (the same keys as ``type: redis``)::

    lock_store:
      type: bot.components.lock_store.AtomicRedisLockStore
      url: 127.0.0.1
      port: 6379
      db: 1
"""

import json
from collections.abc import Callable
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig
from redis.client import Pipeline


class AtomicRedisLockStore(RedisLockStore):
    """A ``RedisLockStore`` whose read-change-write steps cannot interleave across instances."""

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        # Rasa builds a lock store named by module path with the endpoint config alone.
        super().__init__(host=endpoint_config.url or "localhost", **endpoint_config.kwargs)

    def _change(
        self,
        conversation_id: str,
        change: Callable[[TicketLock], Any],
        create: bool = False,
        delete_when_empty: bool = False,
    ) -> Any:
        """Applies ``change`` to the stored lock in one transaction and returns its result.

        Without a stored lock: a new one when ``create``, else nothing happens (None).
        """
        key = self.key_prefix + conversation_id

        def transaction(pipe: Pipeline) -> Any:
            stored = pipe.get(key)  # watched: EXEC fails if another instance writes it meanwhile
            if not stored and not create:
                pipe.multi()
                return None
            lock = TicketLock.from_dict(json.loads(stored)) if stored else self.create_lock(conversation_id)
            result = change(lock)
            pipe.multi()
            if delete_when_empty and not lock.is_someone_waiting():
                pipe.delete(key)
            else:
                pipe.set(key, lock.dumps())
            return result

        return self.red.transaction(transaction, key, value_from_callable=True)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            ticket = self._change(conversation_id, lambda lock: lock.issue_ticket(lock_lifetime), create=True)
            return int(ticket)
        except Exception as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: str) -> None:
        self._change(conversation_id, lambda lock: lock.remove_expired_tickets())

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self._change(conversation_id, lambda lock: lock.remove_ticket_for(ticket_number))

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        """Gives the ticket back; the lock goes when nobody else holds one, in the same step."""
        self._change(
            conversation_id, lambda lock: lock.remove_ticket_for(ticket_number), delete_when_empty=True
        )
