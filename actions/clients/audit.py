"""The handoff service's audit API, as the action server calls it (timeouts and failure kinds explicit)."""

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp

TIMEOUT_SECONDS = 3.0
# Answers that mean "this entry is wrong": sending it again will not help.
ENTRY_PROBLEMS = (400, 413, 422)


class AuditUnavailable(Exception):
    """The service did not answer, timed out, failed (5xx) or refused the call itself (a wrong token,
    no such route yet): try again later, the entry is fine."""


class AuditRejected(Exception):
    """The service refused the entry as malformed (400, 413, 422): retrying it will not help."""


@dataclass(frozen=True)
class Recorded:
    seq: int
    duplicate: bool


@dataclass(frozen=True)
class AuditClient:
    base_url: str
    token: str | None = None
    timeout: float = TIMEOUT_SECONDS

    async def send(self, entry: dict[str, Any]) -> Recorded:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session,
                session.post(f"{self.base_url}/api/v1/audit", json=entry, headers=headers) as response,
            ):
                body = await response.json(content_type=None)
                if response.status in ENTRY_PROBLEMS:
                    detail = body.get("detail") if isinstance(body, dict) else body
                    raise AuditRejected(f"{response.status}: {detail}")
                if response.status >= 400:
                    # A wrong token, an older service without the route, a 5xx: keep it and retry.
                    raise AuditUnavailable(f"handoff service answered {response.status}: {body}")
                return Recorded(int(body["seq"]), bool(body.get("duplicate")))
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError, TypeError) as error:
            raise AuditUnavailable(f"{type(error).__name__}: {error}") from error
