"""The handoff service's customer API, as the action server calls it: recording an opt-out or opt-in."""

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

TIMEOUT_SECONDS = 2.0
ATTEMPTS = 3


class ConsentNotRecorded(Exception):
    """The service did not confirm the change (down, timed out, or refused it)."""


@dataclass(frozen=True)
class CustomerClient:
    base_url: str
    token: str | None = None

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
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        last = ""
        for attempt in range(ATTEMPTS):
            try:
                async with (
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as session,
                    session.post(
                        f"{self.base_url}/api/v1/customers/consent", json=body, headers=headers
                    ) as response,
                ):
                    answer = await response.json(content_type=None)
                    if response.status == 200 and isinstance(answer, dict):
                        return answer
                    last = f"{response.status}: {answer}"
                    if response.status < 500:
                        break  # refused: trying again will not help
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
                last = f"{type(error).__name__}: {error}"
            await asyncio.sleep(0.2 * (attempt + 1))
        raise ConsentNotRecorded(last)
