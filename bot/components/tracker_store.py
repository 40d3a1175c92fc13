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
      window_turns: 10

Issue 18 (docs/tracker-budget.md) adds two things, both to keep a long conversation's cost flat:

- **Less of Rasa's own bytes stored** (``slim_for_storage``): the per-event ``model_id`` and
  ``assistant_id`` (Rasa 3.6 writes them and never reads them back; the user event keeps them,
  so the model that read each message is still known), the copy of the channel metadata in the
  user event's parse data (Rasa rebuilds it from the event's own ``metadata`` on load), and the
  intent ranking beyond its top ``STORED_RANKING``.  The event broker gets the same events.
- **A rolling window on retrieval** (``window_turns``, 0 turns it off): for a session longer than
  that many customer turns, ``retrieve`` returns a marker ``session_started``, the slot values
  and pause state as they stood before the window, an ``action_listen``, then the session's last
  ``window_turns`` customer turns.  Every event stays stored (export, erasure, the broker); the
  actions that need the whole conversation (``FULL_HISTORY_ACTIONS``) are posted it whole by
  bot/components/rasa_patches.py.  A session whose cut would fall inside an active form, or after
  a rewind, undo or restart, is loaded whole, as Rasa does.
"""

import contextlib
import functools
import itertools
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from rasa.core.actions.action import RemoteAction
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore, ensure_schema_exists
from rasa.shared.constants import ASSISTANT_ID_KEY
from rasa.shared.core.constants import ACTION_LISTEN_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionReverted,
    ActiveLoop,
    AllSlotsReset,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.shared.nlu.constants import INTENT_RANKING_KEY, METADATA_MODEL_ID
from sqlalchemy.orm import Session

# The emotion reading (bot.constants.PARSE_EMOTION) and what in it serves only the turn it was
# read in: the message embedding the action server compares with the next message (it keeps its
# own compact copy, actions/empathy_tracking.py).  ~2.3 KB per stored user event as floats
# ("embedding", before issue 18), 512 characters packed ("vector"); docs/tracker-budget.md.
EMOTION_KEY = "emotion"
TURN_ONLY_EMOTION_KEYS = frozenset({"vector", "embedding"})
# Rasa's per-event metadata: written by DialogueStateTracker.update on every event, read by
# nothing in Rasa 3.6 (~90 B an event, ~1 KB a turn).  The user event keeps it.
RASA_EVENT_METADATA: Final = (METADATA_MODEL_ID, ASSISTANT_ID_KEY)
# The intent ranking kept in a stored user event.  Its full length serves the turn it was read
# in (Rasa's two-stage fallback and actions/clarify.py read the latest message's), ~60 B an entry.
STORED_RANKING: Final = 3
# What of a stored message's readings is read after its turn (docs/tracker-budget.md): the emotion
# probabilities by the handoff payload's readings (shown to agents, who flag wrong ones), kept at
# two decimals from STORED_PROBABILITY on (the top one always is: nine add up to 1); the cues that
# fired (bot.empathy.cues.Cues reads a missing cue as 0); the language's code and whether it is
# read (actions/languages.py, the payload); intent confidences by nothing in Rasa (its policies
# read intent names), kept at 4 decimals.
STORED_PROBABILITY: Final = 0.05
STORED_CONFIDENCE_DECIMALS: Final = 4
LANGUAGE_KEY: Final = "language"  # bot.constants.PARSE_LANGUAGE
STORED_LANGUAGE_KEYS: Final = frozenset({"code", "supported"})
# Parse-data keys Rasa rebuilds from the event's own fields on load (UserUttered.__init__), and
# the tokens' character offsets, which Rasa 3.6 writes for its UI and reads nowhere.
REBUILT_ON_LOAD: Final = ("text", "message_id")
UNREAD_PARSE_KEYS: Final = ("text_tokens",)
# A bot event's copy of ``utter_action`` under Rasa's old name (both written by Rasa 3.6's NLG).
OLD_RESPONSE_KEY: Final = "template"
RESPONSE_KEY: Final = "utter_action"

WINDOW_TURNS_VARIABLE: Final = "ATTUNE_TRACKER_WINDOW_TURNS"
DEFAULT_WINDOW_TURNS: Final = 10
# TED looks at 5 states, memoization at 4, a rule at a few turns (config.yml, data/rules.yml),
# and the actions' counts that read events (actions/languages.py) at 3 messages: a window
# shorter than this would change predictions.
MIN_WINDOW_TURNS: Final = 6
# The marker session_started's metadata key: where the window was cut and how many of the
# tracker's events came from the store (the rest are this request's, still to be saved).
WINDOW_KEY: Final = "attune_window"
# Actions that read the whole conversation, not only the window: the handoff payload's
# transcript, intents, trajectory and failed attempts (actions/handoff_payload.py build_payload,
# called by action_handoff and action_request_callback).
FULL_HISTORY_ACTIONS: Final = frozenset({"action_handoff", "action_request_callback"})
# Events before the cut whose effect a summary of slots and pause state cannot carry: such a
# session is loaded whole.
_UNSAFE_BEFORE_CUT: Final = tuple(e.type_name for e in (UserUtteranceReverted, ActionReverted, Restarted))


class TrackerStoreFailure(RasaException):
    """Reading or writing one conversation failed; the request fails, the server goes on."""


@dataclass(frozen=True)
class _Window:
    """A session's window: the summary of what came before the cut, then the stored events from it."""

    first_id: int  # the stored row the window starts with (a user event)
    prefix: list[dict[str, Any]]
    events: list[dict[str, Any]]


def window_turns_from(value: object) -> int:
    """``window_turns`` (endpoints.yml, or ATTUNE_TRACKER_WINDOW_TURNS): 0 (off) or >= MIN_WINDOW_TURNS."""
    text = str(value).strip()
    if not text.isdigit() or (0 < int(text) < MIN_WINDOW_TURNS) or int(text) > 100_000:
        # A RasaException, not a ValueError: Rasa turns an import-time error into an in-memory store.
        raise RasaException(
            f"tracker_store window_turns must be 0 (off) or a whole number of customer turns from "
            f"{MIN_WINDOW_TURNS}, not {value!r} ({WINDOW_TURNS_VARIABLE} overrides endpoints.yml)"
        )
    return int(text)


class GuardedSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` that raises ``TrackerStoreFailure`` where Rasa's would exit the process."""

    def __init__(self, *args: Any, window_turns: object = DEFAULT_WINDOW_TURNS, **kwargs: Any) -> None:
        self.window_turns = window_turns_from(os.environ.get(WINDOW_TURNS_VARIABLE, window_turns))
        super().__init__(*args, **kwargs)
        with contextlib.closing(self.sessionmaker()) as session:
            try:
                ensure_schema_exists(session)  # Rasa's check, once; its ValueError names the schema
            except ValueError as missing:
                raise RasaException(
                    f"the PostgreSQL schema '{missing}' (POSTGRESQL_SCHEMA) does not exist in the "
                    f"tracker store's database: create it or unset POSTGRESQL_SCHEMA"
                ) from missing

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The latest session, or its summary and last ``window_turns`` customer turns when longer."""
        if not self.window_turns:
            return await super().retrieve(sender_id)
        with self.session_scope() as session:
            window = self._window(session, sender_id)
        if window is None:
            return await super().retrieve(sender_id)
        marker = SessionStarted(timestamp=window.events[0].get("timestamp"))
        events = [marker.as_dict(), *window.prefix, *window.events]
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        marker = tracker.events[0]  # the one the tracker holds
        marker.metadata = {
            WINDOW_KEY: {"first_id": window.first_id, "prefix": 1 + len(window.prefix), "loaded": len(events)}
        }
        # Where the actions that need the whole conversation read it (rasa_patches.py).
        setattr(
            tracker, _HISTORY_ATTRIBUTE, functools.partial(self.events_before, sender_id, window.first_id)
        )
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Stores (and streams to the event broker) the new events, slimmed (``slim_for_storage``)."""
        slim_for_storage(tracker)
        await super().save(tracker)
        window = window_of(tracker)
        if window is not None:
            window["loaded"] = len(tracker.events)  # a second save in one request adds only what is new

    async def stream_events(self, tracker: DialogueStateTracker) -> None:
        """Rasa's new events, found without loading the conversation a second time.

        Rasa's ``stream_events`` retrieves the whole stored tracker on every save just to take the
        length of its event list: with a broker on, that doubled the tracker store's time per
        message (bench/broker_save.py).  A windowed tracker says itself which events are new; any
        other is cut where Rasa's own ``_additional_events`` cuts it, at the count of the latest
        session's stored events (the same number, one ``COUNT`` instead of a load).
        """
        if self.event_broker is None:
            return
        window = window_of(tracker)
        if window is not None:
            stored = int(window["loaded"])
        else:
            with self.session_scope() as session:
                stored = self._event_query(
                    session, tracker.sender_id, fetch_events_from_all_sessions=False
                ).count()
            # Rasa's save counts them again next (``_additional_events``): give it this count.
            setattr(tracker, _STORED_COUNT_ATTRIBUTE, stored)
        new = list(itertools.islice(tracker.events, stored, None))
        await self._stream_new_events(self.event_broker, new, tracker.sender_id)

    def _additional_events(self, session: Session, tracker: DialogueStateTracker) -> Iterator[Event]:
        window = window_of(tracker)
        if window is not None:
            return itertools.islice(tracker.events, int(window["loaded"]), None)
        stored = tracker.__dict__.pop(_STORED_COUNT_ATTRIBUTE, None)
        if stored is None:
            return super()._additional_events(session, tracker)  # type: ignore[no-any-return]
        return itertools.islice(tracker.events, int(stored), None)

    def events_before(self, sender_id: str, first_id: int) -> list[dict[str, Any]]:
        """The stored events of the latest session before row ``first_id``, oldest first."""
        with self.session_scope() as session:
            rows = session.execute(
                sa.select(self.SQLEvent.data)
                .where(self._in_session(sender_id), self.SQLEvent.id < first_id)
                .order_by(self.SQLEvent.id)
            ).scalars()
            return [json.loads(data) for data in rows]

    @contextlib.contextmanager
    def session_scope(self) -> Iterator[Session]:
        session = self.sessionmaker()
        try:
            yield session
        except Exception as error:
            raise TrackerStoreFailure(f"the tracker store failed: {error!r}") from error
        finally:
            session.close()

    def _in_session(self, sender_id: str) -> sa.sql.ColumnElement[bool]:
        """Rasa's "latest session" (SQLTrackerStore._event_query): from the latest session_started on."""
        event = self.SQLEvent
        started = (
            sa.select(sa.func.max(event.timestamp))
            .where(event.sender_id == sender_id, event.type_name == SessionStarted.type_name)
            .scalar_subquery()
        )
        return sa.and_(event.sender_id == sender_id, sa.or_(started.is_(None), event.timestamp >= started))

    def _window(self, session: Session, sender_id: str) -> _Window | None:
        """The window of the latest session, or None when it is short or must be loaded whole."""
        event, in_session = self.SQLEvent, self._in_session(sender_id)
        users = (
            session.execute(
                sa.select(event.id)
                .where(in_session, event.type_name == UserUttered.type_name)
                .order_by(event.id.desc())
                .limit(self.window_turns + 1)
            )
            .scalars()
            .all()
        )
        if len(users) <= self.window_turns:
            return None
        first_id = users[self.window_turns - 1]
        before = sa.and_(in_session, event.id < first_id)

        def last_of(*types: str) -> tuple[int, str | None] | None:
            row = session.execute(
                sa.select(event.id, event.action_name)
                .where(before, event.type_name.in_(types))
                .order_by(event.id.desc())
                .limit(1)
            ).first()
            return None if row is None else (int(row[0]), row[1])

        loop = last_of(ActiveLoop.type_name)
        if last_of(*_UNSAFE_BEFORE_CUT) is not None or (loop is not None and loop[1] is not None):
            return None  # a form still active at the cut, or history rewritten: load it whole
        reset = last_of(AllSlotsReset.type_name)
        latest_slots = (
            sa.select(sa.func.max(event.id))
            .where(before, event.type_name == SlotSet.type_name, event.id > (reset[0] if reset else -1))
            .group_by(event.action_name)  # a slot event's action_name column is the slot's name
        )
        pause = last_of(ConversationPaused.type_name, ConversationResumed.type_name)
        summary_ids = [*session.execute(latest_slots).scalars(), *([pause[0]] if pause else [])]
        prefix = [
            json.loads(data)
            for data in session.execute(
                sa.select(event.data).where(event.id.in_(summary_ids)).order_by(event.id)
            ).scalars()
        ]
        rows = session.execute(
            sa.select(event.data).where(in_session, event.id >= first_id).order_by(event.id)
        ).scalars()
        events = [json.loads(data) for data in rows]
        listen = ActionExecuted(ACTION_LISTEN_NAME, timestamp=events[0].get("timestamp")).as_dict()
        return _Window(first_id, [*prefix, listen], events)


_HISTORY_ATTRIBUTE: Final = "_attune_history_before_window"
# The stored-event count ``stream_events`` took, for the same save's ``_additional_events``.
_STORED_COUNT_ATTRIBUTE: Final = "_attune_stored_events"
CallFormat = Callable[[RemoteAction, DialogueStateTracker, Domain], dict[str, Any]]


def window_of(tracker: DialogueStateTracker) -> dict[str, Any] | None:
    """The window marker of a tracker ``retrieve`` cut (mutable: ``loaded`` moves on a save), else None."""
    first = tracker.events[0] if tracker.events else None
    if not isinstance(first, SessionStarted):
        return None
    window = first.metadata.get(WINDOW_KEY)
    return window if isinstance(window, dict) else None


def full_session_events(tracker: DialogueStateTracker) -> list[dict[str, Any]] | None:
    """The whole latest session as event dicts (stored before the window, then the tracker's own),
    or None when ``tracker`` is not a window (it holds the whole session already).
    """
    window = window_of(tracker)
    read_before: Callable[[], list[dict[str, Any]]] | None = getattr(tracker, _HISTORY_ATTRIBUTE, None)
    if window is None or read_before is None:
        return None
    own = itertools.islice(tracker.events, int(window["prefix"]), None)
    return [*read_before(), *(event.as_dict() for event in own)]


def slim_for_storage(tracker: DialogueStateTracker) -> None:
    """Drops what serves only its turn or is stored twice from the tracker's events, in place.

    - the message embedding in the user events' emotion readings, and of the rest of the reading
      the probabilities at two decimals from ``STORED_PROBABILITY`` on and only the cues that fired;
      of the language reading, the code and whether the models read it;
    - Rasa's ``model_id``/``assistant_id`` on every event but the user's;
    - the user event's parse-data copies of its metadata, text and message id, its token offsets,
      and its intent ranking beyond the top few, confidences at ``STORED_CONFIDENCE_DECIMALS``;
    - a bot event's empty ``data`` entries and its response name's second copy.

    Dictionaries are replaced, not edited: the parsed message that produced them is left as it
    was.  The save at the end of a turn stores the events and the tracker is then dropped, so the
    turn itself saw everything.  (A few dictionary lookups per event: nothing next to Rasa
    serialising the tracker anyway.)
    """
    for event in tracker.events:
        if isinstance(event, UserUttered):
            _slim_user_event(event)
            continue
        if isinstance(event, BotUttered):
            _slim_bot_event(event)
        if any(key in event.metadata for key in RASA_EVENT_METADATA):
            event.metadata = {k: v for k, v in event.metadata.items() if k not in RASA_EVENT_METADATA}


def _slim_user_event(event: UserUttered) -> None:
    parse_data: dict[str, Any] = event.parse_data
    reading = parse_data.get(EMOTION_KEY)
    if isinstance(reading, dict):
        parse_data[EMOTION_KEY] = _stored_reading(reading)
    ranking = parse_data.get(INTENT_RANKING_KEY)
    if isinstance(ranking, list):
        parse_data[INTENT_RANKING_KEY] = [_rounded_intent(i) for i in ranking[:STORED_RANKING]]
    if isinstance(parse_data.get("intent"), dict):
        parse_data["intent"] = _rounded_intent(parse_data["intent"])
    own = {"text": event.text, "message_id": event.message_id}
    for key in REBUILT_ON_LOAD:
        if key in parse_data and parse_data[key] == own[key]:
            del parse_data[key]
    for key in UNREAD_PARSE_KEYS:
        parse_data.pop(key, None)
    language = parse_data.get(LANGUAGE_KEY)
    if isinstance(language, dict) and language.keys() - STORED_LANGUAGE_KEYS:
        parse_data[LANGUAGE_KEY] = {k: v for k, v in language.items() if k in STORED_LANGUAGE_KEYS}
    # On load Rasa sets parse_data["metadata"] to the event's metadata (UserUttered.__init__);
    # the copy it made when the message came in lacks only the model and assistant ids.
    metadata = parse_data.get("metadata")
    own = {k: v for k, v in event.metadata.items() if k not in RASA_EVENT_METADATA}
    if metadata is not None and (metadata == own or metadata == event.metadata):
        del parse_data["metadata"]


def _stored_reading(reading: dict[str, Any]) -> dict[str, Any]:
    """An emotion reading as it is kept after its turn (a new dictionary; ``reading`` is left as it was)."""
    kept = {k: v for k, v in reading.items() if k not in TURN_ONLY_EMOTION_KEYS}
    probabilities, cues = kept.get("probabilities"), kept.get("cues")
    if isinstance(probabilities, dict):
        kept["probabilities"] = {
            name: round(value, 2) if _is_number(value) else value  # what is not a number: as it came
            for name, value in probabilities.items()
            if not _is_number(value) or value >= STORED_PROBABILITY
        }
    if isinstance(cues, dict):
        kept["cues"] = {name: value for name, value in cues.items() if not _is_number(value) or value != 0}
        if not kept["cues"]:
            del kept["cues"]
    return kept


def _rounded_intent(intent: object) -> object:
    if not isinstance(intent, dict) or not _is_number(intent.get("confidence")):
        return intent
    return {**intent, "confidence": round(intent["confidence"], STORED_CONFIDENCE_DECIMALS)}


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _slim_bot_event(event: BotUttered) -> None:
    if isinstance(event.data, dict) and None in event.data.values():
        event.data = {k: v for k, v in event.data.items() if v is not None}
    metadata = event.metadata
    if OLD_RESPONSE_KEY in metadata and metadata[OLD_RESPONSE_KEY] == metadata.get(RESPONSE_KEY):
        event.metadata = {k: v for k, v in event.metadata.items() if k != OLD_RESPONSE_KEY}


def _fail_the_request(self: FailSafeTrackerStore, error: Exception) -> None:
    if isinstance(error, TrackerStoreFailure):
        raise error
    raise TrackerStoreFailure(f"the tracker store failed: {error!r}") from error


def with_full_history(call_format: CallFormat) -> CallFormat:
    """``RemoteAction._action_call_format`` that posts ``FULL_HISTORY_ACTIONS`` the whole session."""

    @functools.wraps(call_format)
    def call_format_with_history(
        self: RemoteAction, tracker: DialogueStateTracker, domain: Domain
    ) -> dict[str, Any]:
        body = call_format(self, tracker, domain)
        if self.name() in FULL_HISTORY_ACTIONS:
            events = full_session_events(tracker)
            if events is not None:
                body["tracker"]["events"] = events
        return body

    return call_format_with_history


@functools.lru_cache(maxsize=1)
def install() -> None:
    """Tracker-store errors fail the request that met them, and the actions that read the whole
    conversation are posted it whole (once per process).
    """
    FailSafeTrackerStore.on_tracker_store_error = _fail_the_request
    FailSafeTrackerStore.on_tracker_store_retrieve_error = _fail_the_request
    RemoteAction._action_call_format = with_full_history(RemoteAction._action_call_format)
