"""The handoff API, as the action server calls it (failure rule: actions/clients/http.py)."""

from dataclasses import dataclass
from typing import Any, Final

from actions.clients.http import Reporter, ServiceRejected, ServiceUnavailable, post_json

TIMEOUT_SECONDS = 3.0
API = "handoffs"


class HandoffConflict(ServiceRejected):
    """409: the service already holds a handoff under this idempotency key, with another body (sent
    by another outbox, e.g. a second action server): the team has the conversation.
    """


# The call-back job status the service answers when the customer had too many call-backs today
# (its CALL_RATE_LIMITED, handoff/core/models.py; tests/actions/test_status_constants.py keeps them equal).
CALLBACK_RATE_LIMITED: Final = "rate_limited"


@dataclass(frozen=True)
class Delivered:
    handoff_id: str
    duplicate: bool
    queue_position: int | None = None
    agents_online: int | None = None
    # The call-back job's status when the handoff carried one: pending, rate_limited, ...
    # (the service's call job statuses, handoff/core/models.py; reported as the service stores them).
    callback_status: str | None = None


@dataclass(frozen=True)
class HandoffClient:
    base_url: str
    token: str | None = None
    timeout: float = TIMEOUT_SECONDS
    report: Reporter | None = None

    async def send(self, payload: dict[str, Any]) -> Delivered:
        """Delivers one handoff; raises as actions/clients/http.py says (409 as ``HandoffConflict``)."""
        try:
            body = await post_json(
                f"{self.base_url}/api/v1/handoffs",
                payload,
                api=API,
                timeout=self.timeout,
                token=self.token,
                headers={"Idempotency-Key": str(payload["idempotency_key"])},
                report=self.report,
            )
        except ServiceRejected as error:
            if error.status == 409:
                raise HandoffConflict(error.status, str(error).removeprefix("409: ")) from error
            raise
        try:
            return _delivered(body)
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            # A 2xx that is not the API's answer (a proxy's page): the service has not spoken yet.
            raise ServiceUnavailable(f"{type(error).__name__}: {error}") from error


def _delivered(body: Any) -> Delivered:
    position, online = body.get("queue_position"), body.get("agents_online")
    callback = body.get("callback")
    return Delivered(
        str(body["id"]),
        bool(body.get("duplicate")),
        position if isinstance(position, int) else None,
        online if isinstance(online, int) else None,
        str(callback["status"]) if isinstance(callback, dict) and callback.get("status") else None,
    )
