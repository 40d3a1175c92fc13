"""The idle CSAT trigger: a worker of the handoff service that asks Rasa for the CSAT question when a
customer left an "anything else?" unanswered for policy/csat.yml ``idle_minutes``.

Every ``CHECK_SECONDS`` it claims the due candidates of ``csat_idle`` (handoff/analytics/idle_csat.py,
filled by the analytics ingestion) and, for each, calls Rasa's
``POST /conversations/{id}/trigger_intent?output_channel=<channel>`` with ``EXTERNAL_csat_idle``
(handoff/core/rasa_client.py ``trigger_intent``).  A rule starts ``csat_form`` from it, and
``validate_csat_form`` decides as for "that's all": not while a handoff waits for a person, not after
distress, not within ``suppression_days`` of the last question (the action server's ledger, so a
trigger racing the customer's own "no thanks" asks nothing twice).  A question not asked ends
silently.

A failed call is tried again after 30 s, then 60 s; the third failure is recorded on the row
(``failed``, with the reason), as is at once a conversation whose id names no channel.

Runs when the service has an event broker (ATTUNE_EVENT_BROKER_URL; without one there are no
candidates) and ATTUNE_CSAT_IDLE is not 0, and not at all while the policy says ``enabled: false``.
The policy file (ATTUNE_CSAT_POLICY) is read and checked at start-up: a mistake stops the service.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Final

import yaml
from aiohttp import web
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.empathy.csat_policy import CsatPolicy, CsatPolicyError, parse
from handoff.analytics import idle_csat
from handoff.core.app_keys import ENGINE, RASA, SETTINGS
from handoff.core.rasa_client import RasaClient, RasaUnavailable, Undeliverable

logger = logging.getLogger(__name__)

CSAT_IDLE_INTENT: Final = "EXTERNAL_csat_idle"  # bot/constants.py CSAT_IDLE
CHECK_SECONDS: Final = 30.0
# Candidates claimed per pass; the rest wait for the next one.
BATCH: Final = 50

Clock = Callable[[], datetime]


def load_policy(path: str | Path) -> CsatPolicy:
    """The CSAT policy in the file at ``path``, checked as the action server checks it."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise CsatPolicyError(f"{path}: cannot read the CSAT policy ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise CsatPolicyError(f"{path}: not valid YAML ({error})") from error
    return parse(document, str(path))


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class IdleTrigger:
    engine: Engine
    rasa: RasaClient
    idle: timedelta
    clock: Clock = _now

    def claim(self) -> list[idle_csat.Candidate]:
        with Session(self.engine) as session, session.begin():
            return idle_csat.claim(session, self.clock(), self.idle, BATCH)

    def record(self, candidate: idle_csat.Candidate, error: str | None, *, final: bool = False) -> None:
        with Session(self.engine) as session, session.begin():
            idle_csat.record(session, candidate, self.clock(), error, final=final)

    async def run_once(self) -> int:
        """One pass: claims the due candidates and triggers each; returns how many were triggered."""
        triggered = 0
        for candidate in await asyncio.to_thread(self.claim):
            error, final = await self._trigger(candidate.conversation_id)
            await asyncio.to_thread(self.record, candidate, error, final=final)
            triggered += error is None
        return triggered

    async def _trigger(self, conversation_id: str) -> tuple[str | None, bool]:
        """None, or why the call failed and whether trying again is pointless."""
        try:
            await self.rasa.trigger_intent(conversation_id, CSAT_IDLE_INTENT)
        except Undeliverable as error:
            logger.warning("idle CSAT cannot reach conversation %r: %s", conversation_id, error)
            return str(error), True
        except RasaUnavailable as error:
            logger.warning("idle CSAT trigger for %r failed: %s", conversation_id, error)
            return str(error), False
        logger.info("idle CSAT triggered for %r", conversation_id)
        return None, False


async def run(trigger: IdleTrigger, every: float = CHECK_SECONDS) -> None:
    """Passes every ``every`` seconds until cancelled; a failed pass is logged and the next one tries."""
    while True:
        try:
            await trigger.run_once()
        except Exception:
            logger.exception("idle CSAT pass failed; trying again in %.0f s", every)
        await asyncio.sleep(every)


async def _worker(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    task = None
    if settings.event_broker_url is not None and settings.csat_idle:
        policy = load_policy(settings.csat_policy_file)  # a bad file stops the service at start-up
        if policy.enabled:
            trigger = IdleTrigger(app[ENGINE], app[RASA], timedelta(minutes=policy.idle_minutes))
            task = asyncio.create_task(run(trigger))
    yield
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def setup(app: web.Application) -> None:
    """Adds the idle trigger to the service's background workers (after the database and Rasa client)."""
    app.cleanup_ctx.append(_worker)
