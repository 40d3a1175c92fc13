"""Shadow mode in the action server: a candidate empathy policy beside the live one (docs/shadow.md).

``policy/shadow.yml`` (ATTUNE_SHADOW) names a candidate policy file; shipped off.  When it is on,
``action_track_empathy`` hands every turn it scored (``LiveTurn``: the same signals, the same emotion
reading, what the live engine carried in and decided) to ``observe`` *after* the live decision is
made.  The candidate's scores, tone and decision (bot/empathy/shadow.py) go into a bounded queue in
memory; a background task writes them in batches to ``attune_shadow`` (actions/shadow_log.py).  So:

- the conversation is never touched: nothing here returns an event, and nothing here raises;
- the customer's turn pays only the pure scoring (bench/shadow.py measures it), never a database;
- customers who opted out of emotion processing are never observed (the action does not call it);
- a shadow file or candidate policy that cannot be used switches shadow mode off, logged, at the
  first turn; the live policy goes on as before.  The candidate file is re-read when it changes, as
  the live one is (actions/policy_reload.py); ``policy/shadow.yml`` itself is read once per process.

What the candidate carries between turns is kept here, in memory, for the most recent conversations
(``MAX_CONVERSATIONS``): never in the tracker, whose bytes are budgeted (docs/tracker-budget.md).
Records still queued when the process dies are lost (at most a couple of seconds of turns): this is
a measurement, not a ledger.
"""

import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from pathlib import Path
from typing import Final

import yaml

from actions.background import Repeating
from actions.policy_reload import PolicyFile
from actions.shadow_log import ShadowLog
from bot.empathy.policy import EmpathyPolicy
from bot.empathy.shadow import (
    CandidateCarry,
    LiveTurn,
    ShadowError,
    ShadowRecord,
    ShadowSettings,
    parse_settings,
    shadow_turn,
)

logger = logging.getLogger(__name__)

# Conversations whose candidate carry is kept (least recently scored dropped first).
MAX_CONVERSATIONS: Final = 10_000
# Records waiting for the writer; past this the oldest are dropped (and counted).
MAX_PENDING: Final = 20_000
WRITE_INTERVAL_SECONDS: Final = 2.0
WRITE_BATCH: Final = 1_000


class ShadowMode:
    """The candidate's carries, the records not yet written, and the task that writes them."""

    def __init__(
        self,
        settings: ShadowSettings,
        candidate: Callable[[], EmpathyPolicy],
        open_log: Callable[[], ShadowLog],
        clock: Callable[[], float] = time.time,
        max_conversations: int = MAX_CONVERSATIONS,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.settings = settings
        self._candidate = candidate
        self._open_log = open_log
        self._log: ShadowLog | None = None
        self._clock = clock
        self._max_conversations = max_conversations
        self._carries: OrderedDict[str, CandidateCarry] = OrderedDict()
        self._pending: deque[ShadowRecord] = deque()
        self._max_pending = max_pending
        self._lock = threading.Lock()
        self.dropped = 0
        self.written = 0
        self.writer = ShadowWriter(self)

    def observe(self, conversation_id: str, live: LiveTurn) -> ShadowRecord:
        """Scores ``live``'s turn with the candidate and queues the record for the writer."""
        policy = self._candidate()
        with self._lock:
            carry = self._carries.get(conversation_id)
        record, after = shadow_turn(live, policy, carry, conversation_id, self.settings.name, self._clock())
        with self._lock:
            self._carries[conversation_id] = after
            self._carries.move_to_end(conversation_id)
            while len(self._carries) > self._max_conversations:
                self._carries.popitem(last=False)
            if len(self._pending) >= self._max_pending:
                self._pending.popleft()
                self.dropped += 1
            self._pending.append(record)
        return record

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Writes what is queued, in batches; returns how many rows (runs in a worker thread)."""
        if self._log is None:
            self._log = self._open_log()
        total = 0
        while True:
            with self._lock:
                batch = [self._pending.popleft() for _ in range(min(WRITE_BATCH, len(self._pending)))]
            if not batch:
                break
            try:
                total += self._log.write(batch)
            except Exception:
                with self._lock:  # back at the front, in order, for the next pass
                    self._pending.extendleft(reversed(batch))
                raise
        self.written += total
        return total


class ShadowWriter(Repeating):
    """Writes queued shadow records every ``interval`` seconds, and what is left when stopped."""

    def __init__(self, mode: ShadowMode, interval: float = WRITE_INTERVAL_SECONDS) -> None:
        super().__init__(interval)
        self._mode = mode

    @property
    def name(self) -> str:
        return "shadow record writer"

    async def tick(self) -> None:
        await asyncio.to_thread(self._mode.flush)

    async def stop(self) -> None:
        await super().stop()
        try:
            await asyncio.to_thread(self._mode.flush)
        except Exception:
            logger.exception("shadow records not written at stop")


def load(path: str | Path, database_url: str) -> ShadowMode | None:
    """Shadow mode as ``path`` sets it; None when it is off: no file, ``enabled: false``, or a file
    (or candidate policy) that cannot be used, which is logged.  Never raises.
    """
    try:
        file = Path(path)
        if not file.is_file():
            return None
        settings = parse_settings(yaml.safe_load(file.read_text(encoding="utf-8")), str(file))
        if not settings.enabled:
            return None
        candidate = PolicyFile(settings.candidate_policy)
    except (OSError, ValueError, yaml.YAMLError, ShadowError) as error:
        logger.error("shadow mode off: %s", error)
        return None
    logger.info("shadow mode on: candidate %s from %s", settings.name, settings.candidate_policy)
    return ShadowMode(settings, candidate.current, lambda: ShadowLog.open(database_url))


def writers(mode: ShadowMode | None) -> list[Repeating]:
    """The background task shadow mode needs: none when it is off."""
    return [] if mode is None else [mode.writer]


def observe(shadow: Callable[[], ShadowMode | None], conversation_id: str, live: LiveTurn) -> None:
    """Runs the candidate beside the live turn when shadow mode is on; never raises, returns nothing."""
    try:
        mode = shadow()
        if mode is None:
            return
        mode.observe(conversation_id, live)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # called outside the server (a test, a benchmark): the caller flushes
        mode.writer.ensure_running()
    except Exception:
        logger.exception("shadow scoring failed; the conversation is not affected")
