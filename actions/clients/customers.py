"""The handoff service's customer API, as the action server calls it: recording an opt-out or opt-in.

The customer is waiting for the reply, so there is no queue behind it: a few quick tries while the
service is unavailable (or misconfigured, which is also reported), none when it rejects the change
(the failure rule: actions/clients/http.py), then ``ConsentNotRecorded``.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from actions.clients.http import Reporter, ServiceRejected, ServiceUnavailable, post_json

TIMEOUT_SECONDS = 2.0
ATTEMPTS = 3
PAUSE_SECONDS = 0.2
API = "customers"


class ConsentNotRecorded(Exception):
    """The service did not confirm the change (down, timed out, misconfigured, or refused it)."""


@dataclass(frozen=True)
class CustomerClient:
    base_url: str
    token: str | None = None
    timeout: float = TIMEOUT_SECONDS
    report: Reporter | None = None

    async def set_emotion_processing(
        self, identities: list[dict[str, str]], choice: str, channel: str
    ) -> dict[str, Any]:
        """Records the customer's choice (source: the conversation); a few quick tries, then fails."""
        body = {
            "identities": identities,
            "emotion_processing": choice,
            "channel": channel,
            "source": "conversation",
        }
        last = ""
        for attempt in range(ATTEMPTS):
            try:
                answer = await self._post(body)
            except ServiceRejected as error:
                raise ConsentNotRecorded(str(error)) from error  # trying again will not help
            except ServiceUnavailable as error:
                last = str(error)
            else:
                return answer
            if attempt + 1 < ATTEMPTS:
                await asyncio.sleep(PAUSE_SECONDS * (attempt + 1))
        raise ConsentNotRecorded(last)

    async def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = await post_json(
            f"{self.base_url}/api/v1/customers/consent",
            body,
            api=API,
            timeout=self.timeout,
            token=self.token,
            report=self.report,
        )
        if not isinstance(answer, dict):
            raise ServiceUnavailable(f"an answer that is not the API's: {answer!r}"[:200])
        return answer
