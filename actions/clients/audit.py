"""The handoff service's audit API, as the action server calls it (failure rule: actions/clients/http.py)."""

from dataclasses import dataclass
from typing import Any

from actions.clients.http import Reporter, ServiceUnavailable, post_json

TIMEOUT_SECONDS = 3.0
API = "audit"


@dataclass(frozen=True)
class Recorded:
    seq: int
    duplicate: bool


@dataclass(frozen=True)
class AuditClient:
    base_url: str
    token: str | None = None
    timeout: float = TIMEOUT_SECONDS
    report: Reporter | None = None

    async def send(self, entry: dict[str, Any]) -> Recorded:
        """Appends one entry; raises as actions/clients/http.py says."""
        body = await post_json(
            f"{self.base_url}/api/v1/audit",
            entry,
            api=API,
            timeout=self.timeout,
            token=self.token,
            report=self.report,
        )
        try:
            return Recorded(int(body["seq"]), bool(body.get("duplicate")))
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise ServiceUnavailable(f"{type(error).__name__}: {error}") from error
