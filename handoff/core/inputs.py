"""What a request carries, read and checked in one place before any view acts on it.

- JSON bodies: ``json_value`` / ``json_object`` (handoff/core/json_body.py judges the bytes);
- form bodies (the console's forms, Twilio's webhooks): ``form``, UTF-8 and percent-encoding
  checked strictly, at most ``MAX_FORM_FIELDS`` fields, no NUL (no database column takes one);
- ids in the path: ``path_id``, a 404 for anything that cannot be an id (``payload_contract.ID_PATTERN``,
  at most ``MAX_PATH_ID_CHARS``), so no store ever sees a NUL, a control character or a 5 000-character
  key; whole numbers in queries, paths and forms: ``whole_number``;
- the client's address: ``client_address``, the TCP peer, or behind a trusted proxy
  (ATTUNE_TRUSTED_PROXIES) the last address of X-Forwarded-For that is not a trusted proxy.

Bodies are capped by the app's ``client_max_size`` before they are read: a 413 in the error shape.
Errors are domain errors (handoff/shared/errors.py); the middleware shapes them.
"""

import re
from typing import Any, Final
from urllib.parse import parse_qsl

from aiohttp import web

from handoff.core.app_keys import SETTINGS
from handoff.core.json_body import parse
from handoff.shared import payload_contract
from handoff.shared.client_addresses import FORWARDED_FOR_HEADER, TrustedProxies
from handoff.shared.errors import InvalidEncoding, InvalidRequest, NotFound

MAX_PATH_ID_CHARS: Final = 64
MAX_FORM_FIELDS: Final = 50
# At most nine digits: every whole number a request may carry fits a 32-bit column.
_DIGITS: Final = re.compile("[0-9]{1,9}")
JSON: Final = "application/json"
FORM: Final = "application/x-www-form-urlencoded"


async def json_value(request: web.Request) -> Any:
    """The request's JSON body, or InvalidRequest (wrong content type) / InvalidJson / InvalidEncoding."""
    if request.content_type != JSON:
        raise InvalidRequest(f"send the body as {JSON}")
    return parse(await request.read())


async def json_object(request: web.Request) -> dict[str, Any]:
    document = await json_value(request)
    if not isinstance(document, dict):
        raise InvalidRequest("send a JSON object")
    return document


async def form(request: web.Request) -> dict[str, str]:
    """The request's form fields (the last value of a repeated one); an empty body is an empty form."""
    raw = await request.read()
    if not raw:
        return {}
    if request.content_type != FORM:
        raise InvalidRequest(f"send the form as {FORM}")
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError as error:
        raise InvalidEncoding("the form is not valid UTF-8 (raw or percent-encoded)") from error
    except ValueError as error:
        raise InvalidRequest(f"a form has at most {MAX_FORM_FIELDS} fields") from error
    fields = dict(pairs)
    for name, value in fields.items():
        if "\x00" in name or "\x00" in value:
            raise InvalidRequest("form fields may not contain NUL characters")
    return fields


def path_id(request: web.Request, name: str, what: str) -> str:
    """The id in the path segment ``name``; NotFound when it cannot be the id of any ``what``."""
    value = request.match_info[name]
    if not payload_contract.is_id(value, MAX_PATH_ID_CHARS):
        raise NotFound(
            f"no {what} with that id (ids are 1 to {MAX_PATH_ID_CHARS} characters, "
            "without control characters)"
        )
    return value


def whole_number(text: str | None) -> int | None:
    """``text`` as a whole number if it is 1 to 9 ASCII digits, else None."""
    return int(text) if text is not None and _DIGITS.fullmatch(text) else None


def client_address(request: web.Request) -> str:
    """Who is asking, as far as it can be known: what rate limits and the audit log count by (the
    rule, X-Forwarded-For believed only from ATTUNE_TRUSTED_PROXIES: handoff/shared/client_addresses.py).
    """
    trusted = TrustedProxies(request.app[SETTINGS].trusted_proxies)
    forwarded = request.headers.getall(FORWARDED_FOR_HEADER, [])
    return trusted.client_address(request.remote, forwarded) or "unknown"
