"""The handoff service's CSAT API, as the action server calls it (failure rule: actions/clients/http.py)."""

from dataclasses import dataclass
from typing import Any

from actions.clients.http import Reporter, ServiceUnavailable, post_json

TIMEOUT_SECONDS = 3.0
API = "csat"


@dataclass(frozen=True)
class CsatClient:
    base_url: str
    token: str | None = None
    timeout: float = TIMEOUT_SECONDS
    report: Reporter | None = None

    async def send(self, answer: dict[str, Any]) -> bool:
        """Stores one answer (``POST /api/v1/csat``); True when the service already had it."""
        body = await post_json(
            f"{self.base_url}/api/v1/csat",
            answer,
            api=API,
            timeout=self.timeout,
            token=self.token,
            report=self.report,
        )
        if not isinstance(body, dict) or "id" not in body:
            raise ServiceUnavailable("an answer without the stored answer's id")
        return bool(body.get("duplicate"))
