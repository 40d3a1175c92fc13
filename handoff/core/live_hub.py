"""In-process publish/subscribe for the console's live updates (Server-Sent Events).

Topics are strings: ``queue`` (handoffs arriving, claimed, released, resolved), ``handoff:<id>`` (a
conversation an agent is looking at: typing, a reply just sent) and ``conversation:<id>`` (the web
chat of that conversation: the agent is typing).

Queue events carry an id ``<boot>-<seq>`` and the last ``QUEUE_HISTORY`` of them are kept, so a browser
that reconnects with ``Last-Event-ID`` gets what it missed from this process.  An id from another process
(several service instances behind a load balancer, or a restart) is not in the history; the stream then
starts with a snapshot of the queue instead.  Queue events do not depend on which instance a change was
made on: each instance finds them by polling the database (handoff/queue/live_events.py), and this hub's
``wake`` only makes that poll happen at once when the change was made here.  The other topics are this
process's only: a typing indicator is a hint, and behind several instances without sticky sessions it may
not cross from one to the other (the messages themselves always do: they are read from Rasa).

A slow subscriber never slows a publisher: each has a bounded queue, and one that falls behind is dropped
(its stream ends and the browser reconnects, getting a snapshot).
"""

import asyncio
import itertools
import secrets
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Final

QUEUE: Final = "queue"
QUEUE_HISTORY = 500
SUBSCRIBER_BACKLOG = 256
# The most streams one process serves at once (each holds a connection and a task).
MAX_SUBSCRIBERS = 2000


def handoff_topic(handoff_id: str) -> str:
    return f"handoff:{handoff_id}"


def conversation_topic(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


@dataclass(frozen=True)
class LiveEvent:
    """One event: its SSE id (queue events only), its kind and its data (JSON-able)."""

    kind: str
    data: dict[str, Any]
    id: str | None = None


class Overflowed(Exception):
    """A subscriber fell too far behind and was dropped."""


class TooManySubscribers(Exception):
    """The process already serves MAX_SUBSCRIBERS streams."""


@dataclass(eq=False)  # each subscription is its own (kept in sets by identity)
class Subscription:
    topic: str
    events: "asyncio.Queue[LiveEvent | None]" = field(
        default_factory=lambda: asyncio.Queue(maxsize=SUBSCRIBER_BACKLOG)
    )
    dropped: bool = False

    async def next(self, timeout: float) -> LiveEvent | None:
        """The next event, or None after ``timeout`` seconds (or when the hub closes)."""
        try:
            event = await asyncio.wait_for(self.events.get(), timeout)
        except asyncio.TimeoutError:
            return None
        if self.dropped:
            raise Overflowed(self.topic)
        return event


@dataclass
class LiveHub:
    boot: str = field(default_factory=lambda: secrets.token_hex(4))
    _subscribers: dict[str, set[Subscription]] = field(default_factory=dict)
    _history: deque[LiveEvent] = field(default_factory=lambda: deque(maxlen=QUEUE_HISTORY))
    _sequence: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    # Set when something changed the queue in this process: the watcher polls at once.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when the first queue subscriber arrives: the watcher polls only while someone listens.
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    closing: asyncio.Event = field(default_factory=asyncio.Event)

    def count(self, topic: str | None = None) -> int:
        if topic is not None:
            return len(self._subscribers.get(topic, ()))
        return sum(len(subscribers) for subscribers in self._subscribers.values())

    @contextmanager
    def subscribe(self, topic: str) -> Iterator[Subscription]:
        if self.count() >= MAX_SUBSCRIBERS:
            raise TooManySubscribers(topic)
        subscription = Subscription(topic)
        self._subscribers.setdefault(topic, set()).add(subscription)
        if topic == QUEUE:
            self.listening.set()
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(topic, set())
            subscribers.discard(subscription)
            if not subscribers:
                self._subscribers.pop(topic, None)
                if topic == QUEUE:
                    self.listening.clear()

    def publish(self, topic: str, kind: str, data: dict[str, Any]) -> LiveEvent:
        """Sends an event to the topic's subscribers now (queue events also get an id and are kept)."""
        event = LiveEvent(kind, data)
        if topic == QUEUE:
            event = LiveEvent(kind, data, f"{self.boot}-{next(self._sequence)}")
            self._history.append(event)
        for subscription in list(self._subscribers.get(topic, ())):
            try:
                subscription.events.put_nowait(event)
            except asyncio.QueueFull:
                subscription.dropped = True
                self._subscribers[topic].discard(subscription)
        return event

    @property
    def last_id(self) -> str:
        """The id of the latest queue event (``<boot>-0`` before the first): a snapshot's id."""
        return (self._history[-1].id or "") if self._history else f"{self.boot}-0"

    def since(self, last_event_id: str | None) -> list[LiveEvent] | None:
        """The queue events after ``last_event_id``; None when this process cannot tell (an id of
        another process, or older than the history it keeps): then the stream starts with a snapshot.
        """
        boot, _, number = (last_event_id or "").partition("-")
        if boot != self.boot or not number.isdigit() or len(number) > 18:
            return None
        seen = int(number)
        events = list(self._history)
        oldest = _sequence_of(events[0]) if events else seen + 1
        if oldest > seen + 1:
            return None  # some were forgotten
        return [event for event in events if _sequence_of(event) > seen]

    def close(self) -> None:
        """Ends every stream (the service is shutting down; browsers reconnect to another instance)."""
        self.closing.set()
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                with suppress(asyncio.QueueFull):  # it is ending anyway
                    subscription.events.put_nowait(None)


def _sequence_of(event: LiveEvent) -> int:
    return int((event.id or "-0").rpartition("-")[2])
