"""The lock store keeps one conversation's messages apart across instances, against a real Redis.

Two "instances" (threads, each with its own event loop and its own lock store, as two Rasa
servers have) handle many messages of the same few conversations at once, each inside
``lock_store.lock(conversation)`` as Rasa's Agent does.  Nobody may be inside a conversation
while someone else is, and every message must get its turn.  Rasa's own ``RedisLockStore`` fails
this within a minute: a waiting message's lock is deleted under it (LockError), the message is
dropped.
"""

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from rasa.utils.endpoints import EndpointConfig

from bot.components.lock_store import AtomicRedisLockStore
from tests.support.datastores import redis_server, require_servers
from tests.support.ports import free_port

pytestmark = pytest.mark.integration

INSTANCES = 2
CONVERSATIONS = 3
MESSAGES_PER_INSTANCE = 12  # per conversation


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    require_servers()
    with redis_server(free_port()) as port:
        yield port


def store(port: int) -> AtomicRedisLockStore:
    """A lock store as Rasa builds it from endpoints.yml."""
    return AtomicRedisLockStore(EndpointConfig(url="127.0.0.1", port=port, db=1))


def test_tickets_are_served_in_turn_and_the_lock_goes_with_the_last(redis_port: int) -> None:
    a, b = store(redis_port), store(redis_port)

    first, second = a.issue_ticket("turns"), b.issue_ticket("turns")
    waiting = b.get_lock("turns")
    assert waiting is not None and not waiting.is_locked(first) and waiting.is_locked(second)
    a.cleanup("turns", first)
    served = b.get_lock("turns")
    assert served is not None and not served.is_locked(second)
    b.cleanup("turns", second)
    assert b.get_lock("turns") is None


class Turns:
    """Who is inside which conversation, and every overlap seen."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self.inside: Counter[str] = Counter()
        self.served: Counter[str] = Counter()
        self.overlaps: list[str] = []

    def enter(self, conversation: str) -> None:
        with self._guard:
            self.inside[conversation] += 1
            if self.inside[conversation] > 1:
                self.overlaps.append(conversation)

    def leave(self, conversation: str) -> None:
        with self._guard:
            self.inside[conversation] -= 1
            self.served[conversation] += 1


def instance(port: int, turns: Turns, start: threading.Barrier, errors: list[BaseException]) -> None:
    locks = store(port)

    async def message(conversation: str) -> None:
        async with locks.lock(conversation, wait_time_in_seconds=0.005):
            turns.enter(conversation)
            await asyncio.sleep(0.002)  # the turn: NLU, actions, tracker saved
            turns.leave(conversation)

    async def run() -> None:
        start.wait()
        conversations = [f"c{n}" for n in range(CONVERSATIONS)] * MESSAGES_PER_INSTANCE
        await asyncio.gather(*(message(c) for c in conversations))

    try:
        asyncio.run(run())
    except BaseException as error:  # reported by the test
        errors.append(error)


def test_two_instances_never_serve_one_conversation_at_once(redis_port: int) -> None:
    turns, errors = Turns(), []
    start = threading.Barrier(INSTANCES)
    threads = [
        threading.Thread(target=instance, args=(redis_port, turns, start, errors)) for _ in range(INSTANCES)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not any(thread.is_alive() for thread in threads), "an instance is still waiting for a lock"
    assert errors == []
    assert turns.overlaps == []
    assert turns.served == {f"c{n}": INSTANCES * MESSAGES_PER_INSTANCE for n in range(CONVERSATIONS)}
