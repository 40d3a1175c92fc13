"""The background worker that places due call-backs and tells customers how their call-back went.

Started by the app (handoff/app.py).  Each pass places every due job (handoff/callbacks/call_jobs.py decides
what is due and guarantees one placement per attempt) and then sends the customers any pending
notice through Rasa, on the channel they last used (SMS/WhatsApp or web chat): we tried twice and
could not reach you, the phone system failed, or this is a demo without Twilio.  A notice that cannot
be sent stays pending and is tried on the next pass; one that never can (a conversation id from
before ids named their channel) is logged and set aside.  A new job wakes the worker at once, so "call
me now" does not wait for the next poll.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from handoff.callbacks import call_jobs
from handoff.core.models import NOTICE_ERROR, NOTICE_MISSED, NOTICE_SIMULATED
from handoff.core.rasa_client import RasaClient, RasaUnavailable, Undeliverable

logger = logging.getLogger(__name__)

POLL_SECONDS = 2.0
# A job still "placing" this long after its last change was interrupted by a stop (see interrupt_stale).
STALE_AFTER = timedelta(minutes=2)
NOTICE_RESPONSES: dict[str, str] = {
    NOTICE_MISSED: "utter_callback_missed",
    NOTICE_ERROR: "utter_callback_error",
    NOTICE_SIMULATED: "utter_callback_simulated",
}


async def place_due(
    engine: Engine,
    account: call_jobs.TwilioAccount,
    policy: call_jobs.CallPolicy,
    make_client: Callable[[], Any],
    on_outcome: call_jobs.OnOutcome | None = None,
) -> int:
    """Places every due job; returns how many were tried."""
    due = await asyncio.to_thread(call_jobs.due_jobs, engine)
    for job_id in due:
        placed = await asyncio.to_thread(
            call_jobs.place_call, engine, job_id, account, make_client, policy, on_outcome=on_outcome
        )
        logger.info(
            "call-back attempt",
            extra={
                "job": job_id,
                "status": placed.status,
                "attempt": placed.attempts,
                "error": placed.last_error,
            },
        )
    return len(due)


async def send_notices(engine: Engine, rasa: RasaClient) -> int:
    """Tells customers what happened to their call-back; returns how many were told."""
    told = 0
    for job_id, conversation_id, notice, _attempts in await asyncio.to_thread(
        call_jobs.pending_notices, engine
    ):
        response = NOTICE_RESPONSES.get(notice)
        if response is not None:
            try:
                await rasa.say(conversation_id, response)
            except Undeliverable as error:
                logger.warning(
                    "a call-back notice cannot be delivered", extra={"job": job_id, "error": str(error)}
                )
                await asyncio.to_thread(call_jobs.mark_notified, engine, job_id)  # set aside: never sendable
                continue
            except RasaUnavailable as error:
                logger.warning(
                    "could not tell a customer about their call-back",
                    extra={"job": job_id, "error": str(error)},
                )
                continue
        await asyncio.to_thread(call_jobs.mark_notified, engine, job_id)
        told += 1
    return told


async def run_worker(
    engine: Engine,
    rasa: RasaClient,
    account: call_jobs.TwilioAccount,
    policy: call_jobs.CallPolicy,
    wake: asyncio.Event,
    every: float = POLL_SECONDS,
    on_outcome: call_jobs.OnOutcome | None = None,
) -> None:
    interrupted = await asyncio.to_thread(
        call_jobs.interrupt_stale, engine, STALE_AFTER, on_outcome=on_outcome
    )
    if interrupted:
        logger.warning("call-backs interrupted by a stop were marked unknown", extra={"count": interrupted})

    def make_client() -> Any:
        return call_jobs.official_client(account)

    while True:
        try:
            await place_due(engine, account, policy, make_client, on_outcome)
            await send_notices(engine, rasa)
        except Exception:
            logger.exception("call-back pass failed; will try again")
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(wake.wait(), every)
        wake.clear()
