"""Conversations written straight into Rasa's SQL tracker store, as channels would have left them
(the conversation-id migration tests on SQLite and on PostgreSQL).
"""

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker


async def save(store: SQLTrackerStore, sender: str, channels: list[str | None]) -> None:
    """A conversation of one user message per channel in ``channels``, each answered."""
    tracker = DialogueStateTracker(sender, slots=[])
    tracker.update(SessionStarted())
    for number, channel in enumerate(channels):
        tracker.update(UserUttered(f"{sender} message {number}", input_channel=channel))
        tracker.update(BotUttered(f"answer {number}"))
    await store.save(tracker)


async def texts(store: SQLTrackerStore, sender: str) -> list[str] | None:
    """The texts of the conversation's messages, or None when the store has no such conversation."""
    tracker = await store.retrieve_full_tracker(sender)
    if tracker is None or not tracker.events:
        return None
    return [str(getattr(e, "text", "")) for e in tracker.events if isinstance(e, (UserUttered, BotUttered))]
