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


class HandoffConflict(HandoffRejected):
    """409: the service already holds a handoff under this idempotency key, with another body (sent
    by another outbox, e.g. a second action server): the team has the conversation."""


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
                if response.status == 409:
                    raise HandoffConflict(f"409: {_detail(body)}")
                if response.status >= 400:
                    raise HandoffRejected(f"{response.status}: {_detail(body)}")
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
        except (
            aiohttp.ClientError,
            asyncio.TimeoutError,
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
        ) as error:
            # No answer, or one that is not the API's (a proxy's error page): try again later.
            raise HandoffUnavailable(f"{type(error).__name__}: {error}") from error


def _detail(body: Any) -> Any:
    return body.get("detail") if isinstance(body, dict) else body
