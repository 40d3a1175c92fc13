"""The OpenAPI 3.1 description of the handoff service's HTTP API, and ``GET /api/v1/openapi.json``.

Built here from the same constants the views and the contract check (one source): the handoff
payload is ``payload_contract.SCHEMA`` itself, embedded under ``components/schemas/HandoffPayload`` (its
``$defs`` moved next to it).  ``python -m handoff schema`` writes the published copy,
``handoff/openapi.json``; tests fail when it drifts from this module or when a route of the app is
missing here (or described here but not routed).  The fuzz tests (tests/handoff/test_fuzz.py) drive
every operation from this description.
"""

import copy
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from handoff.console.views import MAX_REPLY_CHARS
from handoff.core.app_keys import OPENAPI
from handoff.core.inputs import MAX_FORM_FIELDS, MAX_PATH_ID_CHARS
from handoff.core.json_body import MAX_DEPTH, MAX_NUMBER_CHARS
from handoff.core.models import EMOTION_PROCESSING, HANDOFF_STATUSES, IDENTITY_KINDS
from handoff.core.pages import SESSION_COOKIE
from handoff.privacy.customers import MAX_CHANNEL_CHARS, MAX_IDENTITIES, MAX_IDENTITY_CHARS, SOURCES
from handoff.privacy.views import CHAT_PER_MINUTE, MAX_SESSION_CHARS
from handoff.queue.views import MAX_CALLBACK_KEY_CHARS, MAX_LIMIT
from handoff.shared import payload_contract
from handoff.shared.audit_entry import ENGINE_ACTOR, ENGINE_KINDS, MAX_TIMESTAMP

# The published description: written by ``python -m handoff schema``, checked by test_openapi.py.
OPENAPI_FILE: Final = Path(__file__).resolve().parent / "openapi.json"
PATH: Final = "/api/v1/openapi.json"
MAX_BODY_BYTES: Final = 1024**2

_DESCRIPTION = f"""\
The Attune handoff service: the handoff API the action server calls, the customers' consent API,
Twilio's call-back webhooks, the agent console (server-rendered HTML) and operations endpoints.

Every input is checked where it enters, and a client's mistake is a 4xx in one shape,
`{{"error": code, "detail": text}}`, never a 5xx:

- bodies are at most {MAX_BODY_BYTES} bytes (413 `request_entity_too_large`, before they are read);
- JSON bodies are UTF-8 (400 `invalid_encoding`), nest at most {MAX_DEPTH} levels, have number literals
  of at most {MAX_NUMBER_CHARS} characters, no NaN or Infinity (400 `invalid_json`) and no lone
  surrogates in any string (400 `invalid_encoding`, naming the field);
- form bodies (console, Twilio) are `application/x-www-form-urlencoded` UTF-8, at most {MAX_FORM_FIELDS}
  fields, without NUL;
- ids in paths are 1 to {MAX_PATH_ID_CHARS} characters without control characters, invisible marks, line
  breaks or lone surrogates (anything else is 404); ids in bodies follow the same rule with the
  maximum their schema gives;
- the handoff payload follows `HandoffPayload` (400 `invalid_request` naming the field); `format`
  is asserted (`date-time` is RFC 3339) and numbers are finite;
- a reused idempotency key with a different body is 409 `idempotency_key_reused` (bodies are compared
  without {", ".join(sorted(payload_contract.VOLATILE_FIELDS))}).
"""


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _ok(
    description: str, schema: dict[str, Any] | None = None, media: str = "application/json"
) -> dict[str, Any]:
    if schema is None:
        return {"description": description}
    return {"description": description, "content": {media: {"schema": schema}}}


def _errors(*names: str) -> dict[str, Any]:
    codes = {"400": "BadRequest", "401": "Unauthorized", "403": "Forbidden", "404": "NotFound"}
    codes |= {"409": "Conflict", "413": "TooLarge", "429": "TooManyRequests"}
    return {code: {"$ref": f"#/components/responses/{name}"} for code, name in codes.items() if code in names}


def _id_param(name: str, what: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id; anything that cannot be an id is 404.",
        "schema": payload_contract.id_schema(MAX_PATH_ID_CHARS),
    }


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": True}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": _json(schema)}


def _op(summary: str, tag: str, responses: dict[str, Any], **parts: Any) -> dict[str, Any]:
    return {"summary": summary, "tags": [tag], **parts, "responses": responses}


_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
_CONSOLE: list[dict[str, list[str]]] = [{"console_session": []}]
_TWILIO: list[dict[str, list[str]]] = [{"twilio_signature": []}]
_CSRF = {"csrf_token": {"type": "string", "description": "The console session's CSRF token."}}
_HTML = "text/html"
_REDIRECT = {"303": {"description": "To the login page without a session, or back to the page after a form."}}


def _handoff_paths() -> dict[str, Any]:
    handoff_id = _id_param("handoff_id", "handoff")
    return {
        "/api/v1/handoffs": {
            "post": _op(
                "Queue a handoff (201 new, 200 the same handoff delivered again)",
                "handoffs",
                {
                    "201": _ok("Stored and queued.", _ref("HandoffAccepted")),
                    "200": _ok(
                        "Already stored under this idempotency key (a retry).", _ref("HandoffAccepted")
                    ),
                    **_errors("400", "401", "409", "413"),
                },
                security=_BEARER,
                parameters=[
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "description": "If sent, must equal the payload's idempotency_key.",
                        "schema": {"type": "string", "maxLength": 128},
                    }
                ],
                requestBody=_body(_ref("HandoffPayload")),
            ),
            "get": _op(
                "The queue: handoffs in a status, most urgent first, then longest waiting",
                "handoffs",
                {
                    "200": _ok("The handoffs (without payloads).", _ref("HandoffList")),
                    **_errors("400", "401"),
                },
                security=_BEARER,
                parameters=[
                    {"name": "status", "in": "query", "schema": {"enum": list(HANDOFF_STATUSES)}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                    },
                ],
            ),
        },
        "/api/v1/handoffs/{handoff_id}": {
            "get": _op(
                "One handoff with its payload (as the access policy lets the API see it)",
                "handoffs",
                {"200": _ok("The handoff.", _ref("Handoff")), **_errors("401", "404")},
                security=_BEARER,
                parameters=[handoff_id],
            )
        },
        "/api/v1/handoffs/{handoff_id}/callbacks": {
            "post": _op(
                "Ask for a phone call-back for a handoff (placed once, or simulated without Twilio)",
                "handoffs",
                {
                    "201": _ok("Placed (or simulated).", _ref("CallbackPlaced")),
                    "200": _ok("The call-back already requested under this key.", _ref("CallbackPlaced")),
                    **_errors("400", "401", "404", "413"),
                },
                security=_BEARER,
                parameters=[handoff_id],
                requestBody=_body(
                    {
                        "type": "object",
                        "required": ["to"],
                        "properties": {
                            "to": {
                                "type": "string",
                                "maxLength": 250,
                                "description": "E.164 or a national number.",
                            },
                            "idempotency_key": payload_contract.id_schema(MAX_CALLBACK_KEY_CHARS),
                        },
                    }
                ),
            )
        },
    }


def _customer_paths() -> dict[str, Any]:
    consent = {"200": _ok("The customer and their choice.", _ref("CustomerConsent"))}
    return {
        "/api/v1/customers/resolve": {
            "post": _op(
                "Which customer these identities are (linked, created or merged), and their choice",
                "customers",
                {
                    **consent,
                    "304": _ok(
                        "The answer the caller holds is current: its If-None-Match names the consent "
                        "epoch, the ETag of every answer (handoff/privacy/consent_epoch.py). No body."
                    ),
                    **_errors("400", "401", "409", "413"),
                },
                security=_BEARER,
                requestBody=_body(
                    {
                        "type": "object",
                        "required": ["identities"],
                        "properties": {"identities": _ref("Identities")},
                    }
                ),
            )
        },
        "/api/v1/customers/consent": {
            "post": _op(
                "Record an opt-out (off) or opt-in (on) of emotion processing",
                "customers",
                {**consent, **_errors("400", "401", "409", "413")},
                security=_BEARER,
                requestBody=_body(
                    {
                        "type": "object",
                        "required": ["identities", "emotion_processing"],
                        "properties": {
                            "identities": _ref("Identities"),
                            "emotion_processing": {"enum": list(EMOTION_PROCESSING)},
                            "channel": payload_contract.id_schema(MAX_CHANNEL_CHARS),
                            "source": {"enum": list(SOURCES)},
                        },
                    }
                ),
            )
        },
        "/api/v1/customers/{customer_id}/consent": {
            "get": _op(
                "A customer's choice and its history",
                "customers",
                {"200": _ok("The consent log.", {"type": "object"}), **_errors("401", "404")},
                security=_BEARER,
                parameters=[_id_param("customer_id", "customer")],
            )
        },
        "/api/v1/customers/merges/{merge_id}/undo": {
            "post": _op(
                "Undo a merge of two customers: the removed one is restored with its identities, "
                "consent events and choice",
                "customers",
                {"200": _ok("The merge, now undone.", _ref("CustomerMerge")), **_errors("401", "404", "409")},
                security=_BEARER,
                parameters=[_id_param("merge_id", "customer merge")],
            )
        },
        "/chat/consent": {
            "get": _op(
                "The web chat's switch: this session's setting (nothing is stored for an unknown session)",
                "customers",
                {**consent, **_errors("400", "403", "429")},
                parameters=[
                    {"name": "session_id", "in": "query", "required": True, "schema": _ref("SessionId")}
                ],
            ),
            "post": _op(
                "The web chat's switch: change this session's setting",
                "customers",
                {**consent, **_errors("400", "403", "413", "429")},
                requestBody=_body(
                    {
                        "type": "object",
                        "required": ["session_id", "emotion_processing"],
                        "properties": {
                            "session_id": _ref("SessionId"),
                            "emotion_processing": {"enum": list(EMOTION_PROCESSING)},
                        },
                    }
                ),
            ),
        },
    }


# POST /api/v1/csat (handoff/queue/csat.py): the body, and the stored answer sent back.
_CSAT_ANSWER: Final[dict[str, Any]] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["answer_id", "conversation_id", "score"],
    "properties": {
        "answer_id": {"type": "string", "pattern": "^[0-9A-Za-z_-]{8,64}$"},
        "conversation_id": {"type": "string", "minLength": 1, "maxLength": 255},
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "comment": {"type": ["string", "null"], "maxLength": 1000},
    },
}
_CSAT_STORED: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["id", "conversation_id", "handoff_id", "score", "comment", "created_at", "duplicate"],
    "properties": {
        "id": {"type": "string"},
        "conversation_id": {"type": "string"},
        "handoff_id": {"type": ["string", "null"]},
        "score": {"type": "integer", "minimum": 1, "maximum": 5},
        "comment": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "duplicate": {"type": "boolean"},
    },
}


def _operations_paths() -> dict[str, Any]:
    return {
        "/api/v1/audit": {
            "post": _op(
                "Append an entry of the empathy engine to the audit log (201 new, 200 already stored)",
                "audit",
                {
                    "201": _ok("Appended.", _ref("AuditAppended")),
                    "200": _ok("Already stored under this key.", _ref("AuditAppended")),
                    **_errors("400", "401", "413"),
                },
                security=_BEARER,
                requestBody=_body(_ref("AuditEntry")),
            )
        },
        "/api/v1/csat": {
            "post": _op(
                "Store a customer's CSAT answer (201 new, 200 the same answer stored before)",
                "csat",
                {
                    "201": _ok("Stored.", _CSAT_STORED),
                    "200": _ok("The same answer was stored before.", _CSAT_STORED),
                    **_errors("400", "401", "409", "413"),
                },
                security=_BEARER,
                requestBody=_body(_CSAT_ANSWER),
            )
        },
        "/twilio/twiml/{job_id}": {
            "post": _op(
                "The TwiML a placed call-back fetches (signed by Twilio)",
                "twilio",
                {"200": _ok("TwiML.", {"type": "string"}, "text/xml"), **_errors("400", "403", "404", "413")},
                security=_TWILIO,
                parameters=[_id_param("job_id", "call-back job")],
                requestBody=_form({}, []),
            )
        },
        "/twilio/status/{job_id}": {
            "post": _op(
                "A call-back's status callback (signed by Twilio)",
                "twilio",
                {"204": _ok("Recorded."), **_errors("400", "403", "404", "413")},
                security=_TWILIO,
                parameters=[_id_param("job_id", "call-back job")],
                requestBody=_form(
                    {
                        "CallStatus": {"type": "string", "maxLength": 24},
                        "CallSid": {"type": "string", "maxLength": 64},
                    },
                    ["CallStatus"],
                ),
            )
        },
        "/healthz": {
            "get": _op(
                "Is the service up, and can it reach its database (503 when it cannot)",
                "operations",
                {
                    "200": _ok("Up.", _ref("Health")),
                    "503": _ok("The database is unreachable.", _ref("Health")),
                },
            )
        },
        "/metrics": {
            "get": _op(
                "Prometheus metrics (text format); no personal data",
                "operations",
                {"200": _ok("The exposition.", {"type": "string"}, "text/plain")},
            )
        },
        PATH: {
            "get": _op(
                "This description",
                "operations",
                {"200": _ok("OpenAPI 3.1.", {"type": "object"})},
            )
        },
    }


def _page(summary: str, *params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    responses = {
        "200": _ok("The page.", {"type": "string"}, _HTML),
        **_REDIRECT,
        **_errors("400", "403", "404"),
    }
    return _op(summary, "console", responses, security=_CONSOLE, parameters=list(params), **extra)


def _post(summary: str, fields: dict[str, Any], *params: dict[str, Any]) -> dict[str, Any]:
    responses = {**_REDIRECT, **_errors("400", "403", "404", "409", "413")}
    return _op(
        summary,
        "console",
        responses,
        security=_CONSOLE,
        parameters=list(params),
        requestBody=_form({**_CSRF, **fields}, ["csrf_token"]),
    )


_SSE = "text/event-stream"


def _stream(
    summary: str, *params: dict[str, Any], errors: tuple[str, ...] = ("401", "404")
) -> dict[str, Any]:
    responses = {
        "200": _ok(
            "Server-Sent Events (handoff/console/live_views.py); EventSource reconnects with Last-Event-ID.",
            {"type": "string"},
            _SSE,
        ),
        "503": _ok("This instance serves as many streams as it can; the page falls back to reloading."),
        **_errors(*errors),
    }
    return _op(summary, "console", responses, parameters=list(params))


def _live_paths() -> dict[str, Any]:
    """The live console's streams and fetches (handoff/console/live_views.py)."""
    handoff_id = _id_param("handoff_id", "handoff")
    session = {"name": "session_id", "in": "query", "required": True, "schema": _ref("SessionId")}
    sent = {"200": _ok("Done.", {"type": "object"}), **_errors("400", "401", "403", "404", "409", "413")}
    typing = {
        "200": _ok("Whether a typing indicator is shown.", {"type": "object"}),
        **_errors("400", "403", "413", "429"),
    }
    return {
        "/console/events": {"get": {**_stream("The queue, live"), "security": _CONSOLE}},
        "/console/handoffs/{handoff_id}/events": {
            "get": {
                **_stream("One handoff, live: status, messages, call-backs, typing", handoff_id),
                "security": _CONSOLE,
            }
        },
        "/console/handoffs/{handoff_id}/messages": {
            "post": _op(
                "Reply to the customer without a reload (JSON; 503 when the assistant is unreachable)",
                "console",
                {**sent, "503": _ok("The assistant is unreachable: nothing was sent.")},
                security=_CONSOLE,
                parameters=[handoff_id],
                requestBody=_form(
                    {**_CSRF, "text": {"type": "string", "maxLength": MAX_REPLY_CHARS}},
                    ["csrf_token", "text"],
                ),
            )
        },
        "/console/handoffs/{handoff_id}/typing": {
            "post": _op(
                "The holder is typing (shown in the web chat; SMS and WhatsApp show none)",
                "console",
                sent,
                security=_CONSOLE,
                parameters=[handoff_id],
                requestBody=_form({**_CSRF, "active": {"enum": ["0", "1"]}}, ["csrf_token"]),
            )
        },
        "/chat/events": {
            "get": _stream(
                "The web chat's live hints: the agent is typing", session, errors=("400", "403", "429")
            )
        },
        "/chat/typing": {
            "post": _op(
                "The customer is typing (shown to the agent who holds their handoff)",
                "customers",
                typing,
                requestBody=_body(
                    {
                        "type": "object",
                        "required": ["session_id"],
                        "properties": {"session_id": _ref("SessionId"), "active": {"type": "boolean"}},
                    }
                ),
            )
        },
    }


def _workspace_paths() -> dict[str, Any]:
    """The agent workspace (handoff/workspace/routes.py): canned responses, notes, transfers, presence."""
    handoff_id = _id_param("handoff_id", "handoff")
    number = {"type": "string", "pattern": "^[0-9]{1,9}$"}
    json_ok = {
        "200": _ok("JSON for the page's script.", {"type": "object"}),
        **_REDIRECT,
        **_errors("400", "403", "404"),
    }
    canned_fields = {
        "shortcut": {"type": "string", "maxLength": 33},
        "title": {"type": "string", "maxLength": 80},
        "body": {"type": "string", "maxLength": 2000},
    }

    def json_get(summary: str, *params: dict[str, Any]) -> dict[str, Any]:
        return {"get": _op(summary, "console", json_ok, security=_CONSOLE, parameters=list(params))}

    query = {"name": "q", "in": "query", "required": False, "schema": {"type": "string", "maxLength": 65}}
    for_handoff = {"name": "handoff", "in": "query", "required": False, "schema": {"type": "string"}}
    return {
        "/console/canned": {
            "get": _page("Canned responses (supervisors edit them)"),
            "post": _post("Add a canned response", canned_fields),
        },
        "/console/canned/search": json_get(
            'Canned responses for the reply box\'s "/", slots filled from the handoff', query, for_handoff
        ),
        "/console/canned/{canned_id}": {
            "post": _post(
                "Change or remove a canned response",
                {**canned_fields, "action": {"enum": ["save", "remove"]}},
                {"name": "canned_id", "in": "path", "required": True, "schema": number},
            )
        },
        "/console/handoffs/{handoff_id}/notes": {
            **json_get("The handoff's internal notes the reader may see", handoff_id),
            "post": _post(
                "Add an internal note (never sent to the customer)",
                {"text": {"type": "string", "maxLength": 2000}},
                handoff_id,
            ),
        },
        "/console/handoffs/{handoff_id}/transfer": {
            "post": _post(
                "Transfer a claimed handoff to an active colleague, with a note",
                {"to": number, "note": {"type": "string", "maxLength": 1000}},
                handoff_id,
            )
        },
        "/console/team": {"get": _page("The team: presence, load and capacity")},
        "/console/team.json": json_get("The team as JSON, with how many agents take new handoffs"),
        "/console/presence": {
            "post": _post("Set your presence", {"presence": {"enum": ["online", "away", "offline"]}})
        },
        "/console/agents/{agent_id}/capacity": {
            "post": _post(
                "Set an agent's capacity (roles with the workspace policy's manage_team)",
                {"capacity": number},
                {"name": "agent_id", "in": "path", "required": True, "schema": number},
            )
        },
    }


def _history_paths() -> dict[str, Any]:
    """Search, customer history, the resolved list (handoff/history/) and assigning a queued handoff."""
    handoff_id = _id_param("handoff_id", "handoff")

    def query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema}

    page = query("page", {"type": "string", "pattern": "^[0-9]{1,3}$"})
    day = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    number = {"type": "string", "pattern": "^[0-9]{1,9}$"}
    return {
        "/console/search": {
            "get": _page(
                "Search handoffs by order number, customer, words or status (as your role sees them)",
                query("q", {"type": "string", "maxLength": 100}),
                query("kind", {"enum": ["any", "order", "customer", "text"]}),
                query("status", {"enum": ["", "queued", "claimed", "resolved"]}),
                page,
            )
        },
        "/console/resolved": {
            "get": _page(
                "Resolved handoffs, newest first, by disposition, agent and day",
                query("disposition", {"type": "string", "maxLength": 32}),
                query("agent", number),
                query("from", day),
                query("to", day),
                page,
            )
        },
        "/console/handoffs/{handoff_id}/history": {
            "get": _page("The verified customer's earlier contacts", handoff_id)
        },
        "/console/handoffs/{handoff_id}/assign": {
            "post": _post(
                "Assign a queued handoff to an agent (roles with the workspace policy's reassign)",
                {"to": number, "note": {"type": "string", "maxLength": 1000}},
                handoff_id,
            )
        },
    }


def _playground_paths() -> dict[str, Any]:
    """The designer's playground (handoff/playground/): JSON with the session's CSRF token in the body."""
    answered = {
        "200": _ok("The scores, or the save's new version.", {"type": "object"}),
        **_errors("400", "401", "403", "409", "413"),
        "503": _ok("The Rasa server did not read the messages."),
    }
    edits = {"type": "object", "additionalProperties": {"type": "number"}}

    def json_post(summary: str, properties: dict[str, Any]) -> dict[str, Any]:
        schema = {
            "type": "object",
            "required": ["csrf_token"],
            "properties": {**_CSRF, "edits": edits, **properties},
        }
        return {"post": _op(summary, "console", answered, security=_CONSOLE, requestBody=_body(schema))}

    text = {"type": "string", "minLength": 1, "maxLength": 1000}
    turn = {
        "type": "object",
        "required": ["text"],
        "properties": {"text": text, "failed_before": {"type": "integer", "minimum": 0, "maximum": 9}},
    }
    turns = {"type": "array", "minItems": 1, "maxItems": 20, "items": {"oneOf": [text, turn]}}
    return {
        "/console/playground": {"get": _page("The designer's playground (designer and admin roles)")},
        "/console/playground/score": json_post(
            "Score a conversation turn by turn under the saved policy and a draft",
            {"turns": turns, "opted_out": {"type": "boolean"}},
        ),
        "/console/playground/samples": json_post(
            "Re-score the project's conversation tests (and the dev files when present) under a draft",
            {"dev": {"type": "boolean"}},
        ),
        "/console/playground/save": json_post(
            "Save the draft into the empathy policy through its validator (audited; 409: the file moved on)",
            {"version": {"type": "string", "maxLength": 64}},
        ),
        "/console/playground/static/{filename}": {
            "get": _op(
                "The playground's script and stylesheet",
                "console",
                {"200": _ok("The file."), **_errors("403", "404")},
                parameters=[
                    {"name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            )
        },
    }


def _dashboard_paths() -> dict[str, Any]:
    """The supervisor dashboard (handoff/dashboard/): a page and a CSV per metric over a period, and the
    tone experiments' reports.
    """

    def query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema}

    day = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    period = (
        query("from", day),
        query("to", day),
        query("channel", {"enum": ["", "web", "rest", "sms", "whatsapp"]}),
    )
    metric = {
        "name": "metric",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": 32},
        "description": "conversations, containment, self_service, escalations, time_to_escalation, "
        "frustration_at_handoff, tone_changes, callbacks or csat",
    }
    csv_responses = {
        "200": _ok(
            "day, channel, measure, label, count, total (formula-like cells start with ').",
            {"type": "string"},
            "text/csv",
        ),
        **_REDIRECT,
        **_errors("400", "403", "404"),
    }
    experiment = {
        "name": "experiment",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "maxLength": 69},
        "description": "The experiment's name in ATTUNE_EXPERIMENTS (1-64 letters, digits, '_' or '-'), "
        "optionally followed by .json",
    }
    report_responses = {
        "200": {
            "description": "The report as a page, or the JSON `attune experiment report NAME --json` prints.",
            "content": {
                _HTML: {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        },
        **_REDIRECT,
        **_errors("400", "403", "404"),
        "503": _ok("The experiments file cannot be used; the detail names the key at fault."),
    }
    return {
        "/console/dashboard": {
            "get": _page("The supervisor dashboard over a period (supervisor and admin roles)", *period)
        },
        "/console/dashboard/drift": {
            "get": _page("Drift control: the latest day's charts and alerts (supervisor and admin roles)")
        },
        "/console/experiments": {
            "get": _page("The tone experiments and their status (supervisor and admin roles)")
        },
        "/console/experiments/{experiment}": {
            "get": _op(
                "One tone experiment's report: arms, effects with 95% CIs, sample-ratio check, verdict",
                "console",
                report_responses,
                security=_CONSOLE,
                parameters=[
                    experiment,
                    query("format", {"enum": ["html", "json"]}),
                    query("today", day),
                ],
            )
        },
        "/console/dashboard/{metric}.csv": {
            "get": _op(
                "One metric's daily roll-up rows as CSV",
                "console",
                csv_responses,
                security=_CONSOLE,
                parameters=[metric, *period],
            )
        },
        "/console/dashboard/static/{filename}": {
            "get": _op(
                "The dashboard's stylesheet",
                "console",
                {"200": _ok("The file."), **_errors("403", "404")},
                parameters=[
                    {"name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            )
        },
    }


def _with_live_paths(paths: dict[str, Any]) -> dict[str, Any]:
    for path, item in _live_paths().items():
        paths[path] = {**paths.get(path, {}), **item}
    return paths


def _console_paths() -> dict[str, Any]:
    handoff_id = _id_param("handoff_id", "handoff")
    text = {"type": "string", "maxLength": MAX_REPLY_CHARS}
    live = {
        "200": _ok("JSON for the page's script.", {"type": "object"}),
        **_REDIRECT,
        **_errors("403", "404"),
    }
    return {
        "/console": {"get": _page("The queue")},
        "/console/login": {
            "get": _op("The login form", "console", {"200": _ok("The page.", {"type": "string"}, _HTML)}),
            "post": _op(
                "Log in (the form's CSRF token must be the one issued with its pre-session cookie)",
                "console",
                {
                    **_REDIRECT,
                    "401": _ok("Wrong username or password."),
                    "429": _ok(
                        "Too many failed logins for this account or from this address: locked, with "
                        "Retry-After (each further failure doubles the lock).",
                        {"type": "string"},
                        _HTML,
                    ),
                    **_errors("400", "403", "413"),
                },
                requestBody=_form(
                    {
                        "csrf_token": {
                            "type": "string",
                            "description": "The login page's token for its pre-session cookie.",
                        },
                        "username": {"type": "string", "maxLength": 64},
                        "password": {"type": "string", "maxLength": 256},
                    },
                    ["csrf_token", "username", "password"],
                ),
            ),
        },
        "/console/logout": {"post": _post("Log out", {})},
        "/console/handoffs/{handoff_id}": {"get": _page("One handoff", handoff_id)},
        "/console/handoffs/{handoff_id}/messages": {
            "get": _op("The live conversation", "console", live, security=_CONSOLE, parameters=[handoff_id])
        },
        "/console/handoffs/{handoff_id}/calls": {
            "get": _op(
                "The handoff's call-backs", "console", live, security=_CONSOLE, parameters=[handoff_id]
            )
        },
        "/console/handoffs/{handoff_id}/claim": {"post": _post("Claim (pauses the bot)", {}, handoff_id)},
        "/console/handoffs/{handoff_id}/reply": {
            "post": _post("Reply to the customer", {"text": text}, handoff_id)
        },
        "/console/handoffs/{handoff_id}/resolve": {
            "post": _post(
                "Resolve and hand back to the bot (a reason code of policy/workspace.yml is required)",
                {
                    "disposition": {"type": "string", "pattern": "^[a-z0-9_]{1,32}$"},
                    "disposition_note": {"type": "string", "maxLength": 500},
                },
                handoff_id,
            )
        },
        "/console/handoffs/{handoff_id}/flags": {
            "post": _post(
                "Flag a wrong emotion reading",
                {
                    "turn": {"type": "string", "pattern": "^[0-9]{1,9}$"},
                    "label": {"enum": list(payload_contract.EMOTION_LABELS)},
                },
                handoff_id,
            )
        },
        "/console/flags": {"get": _page("Emotion flags to review")},
        "/console/flags/{flag_id}": {
            "post": _post(
                "Accept or reject a flag",
                {"decision": {"enum": ["accept", "reject"]}},
                {
                    "name": "flag_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9]{1,9}$"},
                },
            )
        },
        "/console/audit": {
            "get": _page(
                "One conversation's decisions",
                {
                    "name": "conversation",
                    "in": "query",
                    "schema": payload_contract.id_schema(255, min_length=0),
                },
            )
        },
        "/console/static/{filename}": {
            "get": _op(
                "The console's stylesheet and scripts",
                "console",
                {"200": _ok("The file."), **_errors("403", "404")},
                parameters=[
                    {"name": "filename", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
            )
        },
        "/chat": {
            "get": _op(
                "The customer web chat (anonymous; ?as=demo signs in as the demo customer when "
                "ATTUNE_DEMO_SIGN_IN is on)",
                "console",
                {"200": _ok("The page.", {"type": "string"}, _HTML)},
                parameters=[{"name": "as", "in": "query", "required": False, "schema": {"enum": ["demo"]}}],
            )
        },
    }


def _payload_schemas() -> dict[str, Any]:
    """The payload ``SCHEMA`` as OpenAPI components: its ``$defs`` next to it, its references rewritten."""

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                key: (
                    value.replace("#/$defs/", "#/components/schemas/Payload_")
                    if key == "$ref"
                    else rewrite(value)
                )
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    schema = copy.deepcopy(payload_contract.SCHEMA)
    defs = schema.pop("$defs")
    for key in ("$schema", "$id"):
        schema.pop(key)
    return {
        "HandoffPayload": rewrite(schema),
        **{f"Payload_{name}": rewrite(value) for name, value in defs.items()},
    }


def _schemas() -> dict[str, Any]:
    error = {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {
            "error": {
                "type": "string",
                "description": "Stable: invalid_json, invalid_encoding, invalid_request, unauthorized, "
                "forbidden, not_found, conflict, idempotency_key_reused, request_entity_too_large, "
                "rate_limited, ...",
            },
            "detail": {"type": "string", "description": "For people: what is wrong and where."},
        },
    }
    summary = {
        "type": "object",
        "required": ["id", "conversation_id", "status", "priority", "reason", "created_at"],
        "properties": {
            "id": {"type": "string"},
            "conversation_id": {"type": "string"},
            "status": {"enum": list(HANDOFF_STATUSES)},
            "priority": {"enum": list(payload_contract.PRIORITIES)},
            "reason": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    }
    return {
        "Error": error,
        "HandoffSummary": summary,
        "Handoff": {
            "allOf": [summary],
            "properties": {
                "payload": {
                    "type": "object",
                    "description": "The payload, masked as the access policy requires.",
                },
                "payload_problem": {
                    "type": "string",
                    "description": "Only for handoffs stored before a check existed: why part of the "
                    "payload is left out.",
                },
                "resolution": {
                    "type": "object",
                    "description": "Only for a resolved handoff: when and by whom, and what the agent and "
                    "the customer said from the claim to the resolve (masked as the access policy "
                    "requires; null when it was not kept).",
                    "required": ["resolved_at", "resolved_by", "transcript"],
                    "properties": {
                        "resolved_at": {"type": ["string", "null"], "format": "date-time"},
                        "resolved_by": {"type": ["string", "null"], "description": "The agent's name."},
                        "transcript": {
                            "type": ["array", "null"],
                            "items": {
                                "type": "object",
                                "required": ["speaker", "text", "at"],
                                "properties": {
                                    "speaker": {"enum": ["customer", "agent", "bot"]},
                                    "text": {"type": "string"},
                                    "at": {"type": ["string", "null"], "format": "date-time"},
                                },
                            },
                        },
                    },
                },
            },
        },
        "HandoffAccepted": {
            "allOf": [summary],
            "properties": {
                "duplicate": {"type": "boolean"},
                "queue_position": {"type": ["integer", "null"]},
                "agents_online": {"type": "integer"},
                "callback": {"type": ["object", "null"]},
            },
        },
        "HandoffList": {
            "type": "object",
            "properties": {"handoffs": {"type": "array", "items": _ref("HandoffSummary")}},
        },
        "CallbackPlaced": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "status": {"type": "string"},
                "simulated": {"type": "boolean"},
                "error": {"type": ["string", "null"]},
            },
        },
        "Identity": {
            "type": "object",
            "required": ["kind", "value"],
            "properties": {
                "kind": {"enum": list(IDENTITY_KINDS)},
                "value": {
                    **payload_contract.id_schema(MAX_IDENTITY_CHARS),
                    "description": "Phones in E.164.",
                },
            },
        },
        "Identities": {"type": "array", "minItems": 1, "maxItems": MAX_IDENTITIES, "items": _ref("Identity")},
        "SessionId": {
            **payload_contract.id_schema(MAX_SESSION_CHARS),
            "description": "The signed session id the Rasa server issued (session_confirm); "
            "anything else is 403.",
        },
        "CustomerMerge": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "kept": {"type": "string"},
                "removed": {"type": "string"},
                "identity_kinds": {"type": "array", "items": {"enum": list(IDENTITY_KINDS)}},
                "consent_events": {"type": "integer"},
                "emotion_processing": {"type": "object"},
                "source": {"type": "string"},
                "at": {"type": "string", "format": "date-time"},
                "undone_at": {"type": ["string", "null"], "format": "date-time"},
            },
        },
        "CustomerConsent": {
            "type": "object",
            "properties": {
                "customer": {
                    "type": ["string", "null"],
                    "description": "null: nobody known yet, the default choice applies",
                },
                "emotion_processing": {"enum": list(EMOTION_PROCESSING)},
            },
        },
        "AuditEntry": {
            "type": "object",
            "required": ["key", "conversation_id", "kind", "actor", "summary"],
            "properties": {
                "key": payload_contract.id_schema(128),
                "conversation_id": payload_contract.id_schema(255),
                "customer": {"anyOf": [payload_contract.id_schema(64), {"type": "null"}]},
                "kind": {"enum": list(ENGINE_KINDS)},
                "actor": {"const": ENGINE_ACTOR},
                "summary": {"type": "string", "minLength": 1, "maxLength": 2000},
                "explanation": {"type": "object"},
                "inputs": {"type": "object"},
                "sources": {"type": "array", "items": {"type": "string", "maxLength": 200}},
                "opted_out": {"type": "boolean"},
                "created_at": {
                    "anyOf": [
                        {"type": "string", "format": "date-time"},
                        {"type": "number", "minimum": 0, "maximum": MAX_TIMESTAMP},
                    ]
                },
            },
        },
        "AuditAppended": {
            "type": "object",
            "properties": {
                "seq": {"type": "integer"},
                "hash": {"type": "string"},
                "duplicate": {"type": "boolean"},
            },
        },
        "Health": {
            "type": "object",
            "properties": {"status": {"enum": ["ok", "degraded"]}, "database": {"enum": ["ok", "error"]}},
        },
        **_payload_schemas(),
    }


def _responses() -> dict[str, Any]:
    def error(description: str) -> dict[str, Any]:
        return {"description": description, "content": _json(_ref("Error"))}

    return {
        "BadRequest": error("The request is malformed: the detail says what and where."),
        "Unauthorized": error(
            "Missing or wrong bearer token (send `Authorization: Bearer <token>`; a bare token is refused)."
        ),
        "Forbidden": error(
            "A missing or forged Twilio signature, a stale CSRF token, a role without access, or a web "
            "chat session id this service did not issue."
        ),
        "NotFound": error("No such resource (or an id that cannot be one)."),
        "Conflict": error("The state does not allow it, or an idempotency key was reused with another body."),
        "TooLarge": error(f"The body is over {MAX_BODY_BYTES} bytes."),
        "TooManyRequests": {
            **error(
                f"Over the rate limit of the web chat's switch ({CHAT_PER_MINUTE} requests a minute per "
                "client address)."
            ),
            "headers": {
                "Retry-After": {
                    "description": "Seconds until a request is allowed.",
                    "schema": {"type": "integer"},
                }
            },
        },
    }


def document() -> dict[str, Any]:
    """The whole description (built on each call; the app keeps one under ``OPENAPI``)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Attune handoff service",
            "version": payload_contract.SCHEMA_VERSION,
            "description": _DESCRIPTION,
        },
        "paths": _with_live_paths(
            {
                **_handoff_paths(),
                **_customer_paths(),
                **_operations_paths(),
                **_console_paths(),
                **_workspace_paths(),
                **_history_paths(),
                **_playground_paths(),
                **_dashboard_paths(),
            }
        ),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "ATTUNE_HANDOFF_API_TOKEN, as `Authorization: Bearer <token>`",
                },
                "console_session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
                "twilio_signature": {"type": "apiKey", "in": "header", "name": "X-Twilio-Signature"},
            },
            "schemas": _schemas(),
            "responses": _responses(),
        },
    }


async def openapi_json(request: web.Request) -> web.Response:
    """``GET /api/v1/openapi.json``: open, like /healthz (it describes the API, it holds no data)."""
    return web.json_response(request.app[OPENAPI])


def setup_routes(app: web.Application) -> None:
    app.router.add_get(PATH, openapi_json, name="openapi")
