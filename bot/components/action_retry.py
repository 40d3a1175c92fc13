"""A custom action survives a restart of the action server: a call that cannot connect is retried.

Rasa 3.6 gives up on a custom action at the first connection error: the processor logs "the
actions events are lost", carries on with the turn as if the action had run, and the customer
gets an empty or untrue answer while their lookup is gone.  The action server is supervised and
back within a few seconds, so ``install`` makes two changes, once per process:

- ``RemoteAction.run`` retries a call that could not connect or whose connection was dropped
  (refused, reset, server gone: ``aiohttp.ClientConnectionError`` but not a read timeout), with
  backoff from 0.25 s to 2 s, for up to ATTUNE_ACTION_RETRY_SECONDS (default 15) in all.  An
  answer of the action server, including a 4xx/5xx or a rejection, is never retried.
- When the action server is still unreachable after that, ``ActionServerUnavailable`` ends the
  turn: the message is not processed, nothing of it is stored, and the channel tells the customer
  so and asks them to send it again (bot/components/turn_guard.py).  It is deliberately not a
  ``RasaException``, which Rasa's slot extraction (where action_track_empathy runs) swallows;
  the processor swallows every exception of an action, so ``MessageProcessor._run_action`` re-raises
  this one after Rasa's own handling.

A call that had reached the action server before the connection dropped runs again: the
actions that change something elsewhere are idempotent (the handoff's idempotency key).
"""

import asyncio
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from typing import Any

import aiohttp
from rasa.core.actions.action import RemoteAction
from rasa.core.processor import MessageProcessor
from rasa.shared.exceptions import RasaException

logger = logging.getLogger(__name__)

RETRY_SECONDS_VARIABLE = "ATTUNE_ACTION_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 15.0
FIRST_DELAY_SECONDS = 0.25
MAX_DELAY_SECONDS = 2.0

ActionRun = Callable[..., Awaitable[Any]]


class ActionServerUnavailable(Exception):
    """The action server could not be reached for the whole retry budget; the turn is abandoned."""

    def __init__(self, action: str, attempts: int, seconds: float, cause: BaseException) -> None:
        super().__init__(
            f"custom action '{action}': the action server could not be reached in {attempts} "
            f"attempts over {seconds:.1f} s ({cause!r})"
        )
        self.action = action


# The give-up of the action running now, for ``_run_action`` to re-raise after Rasa swallowed it.
_GAVE_UP: ContextVar[ActionServerUnavailable | None] = ContextVar("attune_action_gave_up", default=None)


def retry_seconds(environ: Mapping[str, str] = os.environ) -> float:
    """ATTUNE_ACTION_RETRY_SECONDS as a number of seconds >= 0 (0: no retry); ValueError otherwise."""
    raw = environ.get(RETRY_SECONDS_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_RETRY_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 300:  # beyond Rasa's own 300 s action timeout makes no sense
        raise ValueError(f"{RETRY_SECONDS_VARIABLE} must be a number of seconds from 0 to 300, got {raw!r}")
    return seconds


def connection_error(error: BaseException) -> aiohttp.ClientConnectionError | None:
    """The connection error behind Rasa's "Failed to execute custom action", if that is what it was."""
    cause = error.__cause__ or error.__context__
    if isinstance(cause, aiohttp.ClientConnectionError) and not isinstance(cause, aiohttp.ServerTimeoutError):
        return cause
    return None


def retrying(run: ActionRun, budget: float) -> ActionRun:
    """``RemoteAction.run`` retried on connection errors for up to ``budget`` seconds."""

    @functools.wraps(run)
    async def run_retrying(self: RemoteAction, *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        delay = FIRST_DELAY_SECONDS
        attempts = 0
        while True:
            attempts += 1
            try:
                return await run(self, *args, **kwargs)
            except RasaException as error:
                cause = connection_error(error)
                if cause is None:
                    raise
                elapsed = time.monotonic() - started
                if elapsed >= budget:
                    failure = ActionServerUnavailable(self.name(), attempts, elapsed, cause)
                    logger.error("%s; the message is not processed", failure)
                    _GAVE_UP.set(failure)
                    raise failure from error
                if attempts == 1:
                    logger.warning(
                        "custom action '%s': cannot reach the action server (%r); retrying for up to %.0f s",
                        self.name(),
                        cause,
                        budget,
                    )
                await asyncio.sleep(min(delay, budget - elapsed))  # the last try at the deadline
                delay = min(2 * delay, MAX_DELAY_SECONDS)

    return run_retrying


def reraising(run_action: ActionRun) -> ActionRun:
    """``MessageProcessor._run_action`` that lets ``ActionServerUnavailable`` end the turn."""

    @functools.wraps(run_action)
    async def run_action_or_give_up(self: MessageProcessor, *args: Any, **kwargs: Any) -> Any:
        token = _GAVE_UP.set(None)
        try:
            carry_on = await run_action(self, *args, **kwargs)
            gave_up = _GAVE_UP.get()
        finally:
            _GAVE_UP.reset(token)
        if gave_up is not None:
            raise gave_up
        return carry_on

    return run_action_or_give_up


@functools.lru_cache(maxsize=1)
def install() -> float:
    """Installs both changes once per process; returns the retry budget in seconds."""
    budget = retry_seconds()
    RemoteAction.run = retrying(RemoteAction.run, budget)
    MessageProcessor._run_action = reraising(MessageProcessor._run_action)
    return budget
