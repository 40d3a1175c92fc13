"""The live console's in-process publish/subscribe (handoff/core/live_hub.py): no service, no database."""

import pytest

from handoff.core import live_hub
from handoff.core.live_hub import QUEUE, LiveHub, Overflowed, TooManySubscribers


async def test_subscribers_of_a_topic_get_its_events_and_no_others() -> None:
    hub = LiveHub()
    with hub.subscribe("handoff:a") as a, hub.subscribe("handoff:b") as b:
        hub.publish("handoff:a", "typing", {"who": "customer"})

        got = await a.next(1.0)
        nothing = await b.next(0.05)

    assert got is not None and got.kind == "typing" and got.id is None
    assert nothing is None
    assert hub.count() == 0  # unsubscribed on leaving


async def test_queue_events_are_numbered_and_replayed_after_a_known_id() -> None:
    hub = LiveHub()
    first, second, third = (hub.publish(QUEUE, "queued", {"id": n}) for n in "xyz")

    assert [e.id for e in (first, second, third)] == [f"{hub.boot}-1", f"{hub.boot}-2", f"{hub.boot}-3"]
    assert hub.since(first.id) == [second, third]
    assert hub.since(third.id) == []
    assert hub.since(f"{hub.boot}-0") == [first, second, third]
    assert hub.last_id == third.id


@pytest.mark.parametrize(
    "last_event_id", [None, "", "other-3", "garbage", "-1", "x-", "1" * 40, "\u0661\u0662-1"]
)
async def test_an_id_this_process_cannot_place_asks_for_a_snapshot(last_event_id: str | None) -> None:
    hub = LiveHub()
    hub.publish(QUEUE, "queued", {"id": "a"})

    assert hub.since(last_event_id) is None


async def test_an_id_older_than_the_history_asks_for_a_snapshot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_hub, "QUEUE_HISTORY", 2)
    hub = LiveHub()
    first = hub.publish(QUEUE, "queued", {"id": 1})
    for n in range(3):
        hub.publish(QUEUE, "queued", {"id": n})

    assert hub.since(first.id) is None


async def test_a_subscriber_that_falls_behind_is_dropped_not_the_publisher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live_hub, "SUBSCRIBER_BACKLOG", 2)
    hub = LiveHub()
    with hub.subscribe(QUEUE) as slow:
        for n in range(5):
            hub.publish(QUEUE, "queued", {"id": n})  # never blocks

        with pytest.raises(Overflowed):
            await slow.next(1.0)
        assert hub.count(QUEUE) == 0


async def test_the_number_of_streams_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_hub, "MAX_SUBSCRIBERS", 1)
    hub = LiveHub()
    with hub.subscribe(QUEUE):
        with pytest.raises(TooManySubscribers):  # noqa: SIM117 (the second must fail inside the first)
            with hub.subscribe(QUEUE):
                pass
        assert hub.count() == 1


async def test_listening_follows_the_queue_subscribers_and_close_ends_streams() -> None:
    hub = LiveHub()
    with hub.subscribe(QUEUE) as subscription:
        assert hub.listening.is_set()
        hub.close()
        assert await subscription.next(1.0) is None and hub.closing.is_set()
    assert not hub.listening.is_set()
