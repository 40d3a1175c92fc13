"""Domain errors of the handoff service; the error middleware maps them to HTTP (services never do)."""


class HandoffError(Exception):
    """Base of errors a client can act on: ``code`` is stable, ``detail`` is for people."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidRequest(HandoffError):
    status = 400
    code = "invalid_request"


class InvalidJson(InvalidRequest):
    """A body that is not JSON the service reads: syntax, depth, number size, NaN (core/json_body.py)."""

    code = "invalid_json"


class InvalidEncoding(InvalidRequest):
    """A body or field that is not UTF-8 text: invalid bytes, or a lone surrogate in a string."""

    code = "invalid_encoding"


class Unauthorized(HandoffError):
    status = 401
    code = "unauthorized"


class Forbidden(HandoffError):
    """The request proves nothing it needs to (a session id this service did not issue)."""

    status = 403
    code = "forbidden"


class NotFound(HandoffError):
    status = 404
    code = "not_found"


class Conflict(HandoffError):
    status = 409
    code = "conflict"


class IdempotencyKeyReused(Conflict):
    """A different handoff under an idempotency key already used: refused, never merged."""

    code = "idempotency_key_reused"


class TooManyRequests(HandoffError):
    """Over a rate limit; ``retry_after`` whole seconds until the next request is allowed."""

    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
