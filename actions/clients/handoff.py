"""The handoff service's API, as the action server calls it (timeouts and failure kinds explicit)."""

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

TIMEOUT_SECONDS = 3.0


class HandoffUnavailable(Exception):
    """The service did not answer, timed out or failed on its side (5xx): try again later."""


class HandoffRejected(Exception):
    """The service refused the payload (4xx): retrying the same payload will not help."""


@dataclass(frozen=True)
class Delivered:
    handoff_id: str
    duplicate: bool
    queue_position: int | None = None
    agents_online: int | None = None
    # The call-back job's status when the handoff carried one: pending, rate_limited, ...
    callback_status: str | None = None


@dataclass(frozen=True)
class HandoffClient:
    base_url: str
    token: str | None = None
    timeout: float = TIMEOUT_SECONDS

    async def send(self, payload: dict[str, Any]) -> Delivered:
        headers = {"Idempotency-Key": str(payload["idempotency_key"])}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session,
                session.post(f"{self.base_url}/api/v1/handoffs", json=payload, headers=headers) as response,
            ):
                body = await response.json(content_type=None)
                if response.status >= 500:
                    raise HandoffUnavailable(f"handoff service answered {response.status}: {body}")
                if response.status >= 400:
                    detail = body.get("detail") if isinstance(body, dict) else body
                    raise HandoffRejected(f"{response.status}: {detail}")
                position, online = body.get("queue_position"), body.get("agents_online")
                callback = body.get("callback")
                return Delivered(
                    str(body["id"]),
                    bool(body.get("duplicate")),
                    position if isinstance(position, int) else None,
                    online if isinstance(online, int) else None,
                    str(callback["status"])
                    if isinstance(callback, dict) and callback.get("status")
                    else None,
                )
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise HandoffUnavailable(f"{type(error).__name__}: {error}") from error
