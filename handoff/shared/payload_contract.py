"""The handoff payload: what the action server sends when a conversation goes to a person.

Defined once, here, as a JSON Schema (``SCHEMA``) with matching TypedDicts for the code; the
published copy is ``handoff/shared/schema/handoff-payload.v1.json`` (``python -m handoff schema`` writes
it; a test fails if it drifts) with an example next to it, and the service's OpenAPI description
(handoff/openapi.yaml) embeds it.  Both sides import this module: the action server to build
payloads, the handoff service to validate them.  No Rasa, no I/O.

Every schema-valid payload can be stored, shown in the console, served by the API and counted in
the metrics: strings, arrays and objects are bounded, numbers are finite (a NaN or an infinity is
not a ``number`` here) and in range, ``date-time`` is enforced (RFC 3339, ``parse_date_time``), ids
are printable (``ID_PATTERN``), and the free-form parts (``explanation``, ``slots``) are JSON of a
bounded depth.

Evolution rule.  ``schema_version`` changes only for incompatible changes.  Within v1, fields are
only ever added, and only as optional fields; nothing becomes required, no type narrows to refuse
what an action server already sends.  The service accepts every payload an older action server could
have queued (its outbox may hold it for days), and tests/handoff/test_contract_evolution.py keeps
the older shapes accepted.  ``VOLATILE_FIELDS`` are the fields a retry of the same handoff may
change; ``fingerprint`` compares two deliveries without them.
"""

import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Final, Literal, TypedDict

SCHEMA_VERSION: Final = "1"
# The emotions Attune's model reads (bot/empathy/emotions.py; a test keeps the two lists equal).
EMOTION_LABELS: Final = (
    "anger",
    "frustration",
    "sadness",
    "fear",
    "confusion",
    "surprise",
    "disgust",
    "joy",
    "neutral",
)
PRIORITIES: Final = ("normal", "high", "urgent")
REASONS: Final = ("customer_request", "frustration", "failed_self_service", "distress")
# A retry of one handoff (same idempotency key) may differ from the first delivery only in these
# top-level fields: the action server rebuilds the payload with a new ``created_at``.
VOLATILE_FIELDS: Final = frozenset({"created_at"})
MAX_TURN: Final = 1_000_000
# A language tag as a detector reports it: "en", "es", "pt-BR", "zh-Hant" (BCP 47's common forms);
# the lookahead as in ID_PATTERN (no final newline).
LANGUAGE_PATTERN: Final = "^[a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}$(?![\\s\\S])"
# The fields with emotional data: absent when the customer opted out of emotion analysis.
EMOTIONAL_FIELDS: Final = ("trajectory", "tone", "explanation", "emotions")
# What an id may not contain: control characters (C0, DEL, C1), invisible format and direction
# marks, line and paragraph separators, the BOM and noncharacters.  Written as a regex character
# range that JSON Schema (ECMA-262), Python's re and Hypothesis all read alike.  Lone surrogates
# are not in it (a surrogate range reads differently in UTF-16 engines): the service's JSON reader
# refuses them in every string (handoff/core/json_body.py), and ``is_id`` refuses them too.
ID_FORBIDDEN: Final = (
    "\\u0000-\\u001f\\u007f-\\u009f\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\ufeff\\ufff9-\\uffff"
)
# The lookahead makes ``$`` mean the end of the text in Python too (where it also matches before
# a final newline).
ID_PATTERN: Final = f"^[^{ID_FORBIDDEN}]*$(?![\\s\\S])"


class ContractError(ValueError):
    """The payload does not follow the contract; ``path`` says where (e.g. ``trajectory[2].frustration``)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or 'payload'}: {problem}")
        self.path = path
        self.problem = problem


class TrajectoryPoint(TypedDict):
    turn: int
    frustration: float
    distress: float
    top_signals: list[str]


class Attempt(TypedDict):
    asked: str
    topic: str | None
    tried: str
    outcome: str
    why: str


class IntentTurn(TypedDict):
    turn: int
    intent: str
    confidence: float


class TranscriptLine(TypedDict):
    speaker: Literal["customer", "bot", "agent"]
    text: str
    at: str | None


class Trigger(TypedDict):
    decision: str
    reasons: list[str]
    turn: int


class EmotionReading(TypedDict):
    turn: int
    text: str
    top: str
    probabilities: dict[str, float]


class EmotionProcessing(TypedDict):
    enabled: bool
    note: str


class HandoffPayload(TypedDict, total=False):
    schema_version: str
    idempotency_key: str
    conversation_id: str
    customer: dict[str, str | None]
    channel: str
    created_at: str
    reason: str
    priority: str
    trigger: Trigger
    emotion_processing: EmotionProcessing
    trajectory: list[TrajectoryPoint]
    tone: str
    explanation: dict[str, Any]
    intents: list[IntentTurn]
    failed_attempts: list[Attempt]
    slots: dict[str, Any]
    summary: str
    recommended_approach: list[str]
    transcript: list[TranscriptLine]
    callback: dict[str, Any] | None
    emotions: list[EmotionReading]
    # The detected language of the message that triggered the handoff ("es"); absent when none was.
    language: str
    # Set by the service when retention removed the emotional fields (senders never send it).
    retention_note: str


_TEXT = {"type": "string", "maxLength": 20_000}
_LABEL = {"type": "string", "maxLength": 200}
_NAME = {"type": "string", "maxLength": 200}
_DATE_TIME = {"type": "string", "format": "date-time", "maxLength": 64}
_UNIT = {"type": "number", "minimum": 0, "maximum": 1}
# The engine's weights and contributions are within [-1, 1]; older policies are allowed some room.
_WEIGHT = {"type": "number", "minimum": -100, "maximum": 100}
_TURN = {"type": "integer", "minimum": 0, "maximum": MAX_TURN}


def id_schema(max_length: int, min_length: int = 1) -> dict[str, Any]:
    """An id: ``min_length`` to ``max_length`` characters, none of them in ``ID_FORBIDDEN``."""
    return {"type": "string", "minLength": min_length, "maxLength": max_length, "pattern": ID_PATTERN}


def _strings(max_items: int, item: Mapping[str, Any] = _LABEL) -> dict[str, Any]:
    return {"type": "array", "maxItems": max_items, "items": dict(item)}


# Free-form JSON nested at most JSON_DEPTH arrays or objects deep (json_0 is a scalar), bounded in
# every dimension: what the engine's explanation and the conversation's slots may carry beyond the
# fields this schema names.
JSON_DEPTH: Final = 3


def _bounded_json() -> dict[str, Any]:
    defs: dict[str, Any] = {"json_0": {"type": ["string", "number", "boolean", "null"], "maxLength": 20_000}}
    for level in range(1, JSON_DEPTH + 1):
        inner = {"$ref": f"#/$defs/json_{level - 1}"}
        defs[f"json_{level}"] = {
            "type": ["string", "number", "boolean", "null", "array", "object"],
            "maxLength": 20_000,
            "maxItems": 100,
            "items": inner,
            "maxProperties": 100,
            "propertyNames": _NAME,
            "additionalProperties": inner,
        }
    return defs


def _json(level: int) -> dict[str, str]:
    return {"$ref": f"#/$defs/json_{level}"}


_SCORE = {
    "type": "object",
    "description": "One score with its parts (bot/empathy/scoring.py): each signal's value, weight "
    "and contribution.",
    "maxProperties": 32,
    "properties": {
        "score": _UNIT,
        "instant": _UNIT,
        "carried": _UNIT,
        "threshold": _UNIT,
        "over_threshold": {"type": "boolean"},
        "contributions": {
            "type": "object",
            "maxProperties": 64,
            "propertyNames": _NAME,
            "additionalProperties": {
                "type": "object",
                "required": ["value", "weight", "contribution"],
                "maxProperties": 16,
                "properties": {"value": _WEIGHT, "weight": _WEIGHT, "contribution": _WEIGHT},
                "additionalProperties": _json(1),
            },
        },
    },
    "additionalProperties": _json(2),
}
_EXPLANATION = {
    "type": "object",
    "description": "The empathy engine's explanation of the trigger turn (actions/empathy_tracking.py). "
    "The fields named here are checked; others the engine may add are bounded JSON.",
    "maxProperties": 64,
    "propertyNames": _NAME,
    "properties": {
        "turn": _TURN,
        "opted_out": {"type": "boolean"},
        "frustration": _SCORE,
        "distress": _SCORE,
        "sources": _strings(50),
        "unavailable": _strings(50),
        "tone": {
            "type": "object",
            "maxProperties": 16,
            "properties": {"tone": _LABEL, "turns_held": _TURN, "reason": _TEXT},
            "additionalProperties": _json(1),
        },
        "decision": {
            "type": "object",
            "maxProperties": 16,
            "properties": {
                "decision": _LABEL,
                "priority": _LABEL,
                "reasons": _strings(20, _TEXT),
                "turn": _TURN,
            },
            "additionalProperties": _json(1),
        },
        "policy_version": {"type": "string", "maxLength": 64},
    },
    "additionalProperties": _json(JSON_DEPTH),
}

SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://attune.example/schemas/handoff-payload.v1.json",
    "title": "Attune handoff payload",
    "description": "A conversation handed from the Attune assistant to a person, with its emotional context. "
    "format is asserted: date-time is RFC 3339 (with an offset, no leap second); numbers are finite.",
    "type": "object",
    "required": [
        "schema_version",
        "idempotency_key",
        "conversation_id",
        "customer",
        "channel",
        "created_at",
        "reason",
        "priority",
        "trigger",
        "emotion_processing",
        "intents",
        "failed_attempts",
        "slots",
        "summary",
        "recommended_approach",
        "transcript",
    ],
    "additionalProperties": False,
    "properties": {
        "schema_version": {"const": SCHEMA_VERSION},
        "idempotency_key": id_schema(100, min_length=8),
        "conversation_id": id_schema(255),
        "customer": {
            "type": "object",
            "description": "Pseudonymous: never the raw e-mail or phone number.",
            "required": ["pseudonym"],
            "additionalProperties": False,
            "properties": {
                "pseudonym": id_schema(64),
                "email_masked": {"type": ["string", "null"], "maxLength": 320},
            },
        },
        "channel": id_schema(40),
        "created_at": _DATE_TIME,
        "reason": {"enum": list(REASONS)},
        "priority": {"enum": list(PRIORITIES)},
        "trigger": {
            "type": "object",
            "required": ["decision", "reasons", "turn"],
            "additionalProperties": False,
            "properties": {
                "decision": {"enum": ["handoff", "offer_human", "offer_callback"]},
                "reasons": _strings(20, _TEXT),
                "turn": _TURN,
            },
        },
        "emotion_processing": {
            "type": "object",
            "description": "enabled false: the customer opted out, and the payload has no emotional fields.",
            "required": ["enabled", "note"],
            "additionalProperties": False,
            "properties": {"enabled": {"type": "boolean"}, "note": _TEXT},
        },
        "trajectory": {
            "type": "array",
            "maxItems": 500,
            "items": {
                "type": "object",
                "required": ["turn", "frustration", "distress", "top_signals"],
                "additionalProperties": False,
                "properties": {
                    "turn": _TURN,
                    "frustration": _UNIT,
                    "distress": _UNIT,
                    "top_signals": _strings(10),
                },
            },
        },
        "tone": {"enum": ["neutral", "warm", "apologetic", "calm_direct"]},
        "explanation": _EXPLANATION,
        "intents": {
            "type": "array",
            "maxItems": 500,
            "items": {
                "type": "object",
                "required": ["turn", "intent", "confidence"],
                "additionalProperties": False,
                "properties": {"turn": _TURN, "intent": _LABEL, "confidence": _UNIT},
            },
        },
        "failed_attempts": {
            "type": "array",
            "maxItems": 100,
            "items": {
                "type": "object",
                "required": ["asked", "tried", "outcome", "why"],
                "additionalProperties": False,
                "properties": {
                    "asked": _TEXT,
                    "topic": {"type": ["string", "null"], "maxLength": 200},
                    "tried": _TEXT,
                    "outcome": _TEXT,
                    "why": _TEXT,
                },
            },
        },
        "slots": {
            "type": "object",
            "description": "The conversation's slots the agent needs (order_id, topic, problem).",
            "maxProperties": 100,
            "propertyNames": _NAME,
            "additionalProperties": _json(JSON_DEPTH),
        },
        "summary": {"type": "string", "minLength": 1, "maxLength": 4000},
        "recommended_approach": _strings(20, _TEXT),
        "transcript": {
            "type": "array",
            "maxItems": 2000,
            "items": {
                "type": "object",
                "required": ["speaker", "text", "at"],
                "additionalProperties": False,
                "properties": {
                    "speaker": {"enum": ["customer", "bot", "agent"]},
                    "text": _TEXT,
                    "at": {"type": ["string", "null"], "maxLength": 64},
                },
            },
        },
        "emotions": {
            "type": "array",
            "description": "The emotion model's reading of each customer message (agents flag wrong ones).",
            "maxItems": 500,
            "items": {
                "type": "object",
                "required": ["turn", "text", "top", "probabilities"],
                "additionalProperties": False,
                "properties": {
                    "turn": _TURN,
                    "text": _TEXT,
                    "top": {"type": "string", "maxLength": 32},
                    "probabilities": {
                        "type": "object",
                        "maxProperties": 64,
                        "propertyNames": _NAME,
                        "additionalProperties": _UNIT,
                    },
                },
            },
        },
        "callback": {
            "type": ["object", "null"],
            "description": "A phone call-back the customer agreed to; the service places it.",
            "required": ["requested"],
            "additionalProperties": False,
            "properties": {
                "requested": {"type": "boolean"},
                "phone_masked": {"type": ["string", "null"], "maxLength": 64},
                "phone": {
                    "type": "string",
                    "pattern": "^\\+[1-9][0-9]{6,14}$",
                    "description": "E.164 number to call. The service keeps it only with the call job, "
                    "never in the stored payload.",
                },
                "consent_at": _DATE_TIME,
                "window": {
                    "type": ["object", "null"],
                    "description": "When the customer agreed to be called; null means now.",
                    "required": ["start", "end"],
                    "additionalProperties": False,
                    "properties": {"start": _DATE_TIME, "end": _DATE_TIME, "label": _TEXT},
                },
                "timezone": {"type": ["string", "null"], "maxLength": 100},
            },
            "dependentRequired": {"phone": ["consent_at"]},
        },
        "language": {
            "type": "string",
            "pattern": LANGUAGE_PATTERN,
            "maxLength": 35,
            "description": "The language detected in the customer's message that triggered the handoff "
            "(a BCP 47 tag such as en, es, pt-BR); absent when no language was detected.",
        },
        "retention_note": {
            "type": "string",
            "maxLength": 1000,
            "description": "Set by the handoff service when the retention period removed the emotional "
            "fields; senders leave it out.",
        },
    },
    "if": {"properties": {"emotion_processing": {"properties": {"enabled": {"const": False}}}}},
    "then": {
        "not": {
            "anyOf": [
                {"required": ["trajectory"]},
                {"required": ["tone"]},
                {"required": ["explanation"]},
                {"required": ["emotions"]},
            ]
        }
    },
    "$defs": _bounded_json(),
}

_DATE_TIME_TEXT: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_ID: Final = re.compile(ID_PATTERN)
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
MAX_PROBLEM_CHARS: Final = 300


def parse_date_time(text: str) -> datetime:
    """An RFC 3339 date-time (JSON Schema's ``date-time``) as an aware UTC datetime, else ValueError.

    Python 3.10's ``fromisoformat`` reads no "Z" and only 3 or 6 fraction digits, and accepts what
    RFC 3339 does not (no offset, a space); this reads exactly RFC 3339's section 5.6, minus leap
    seconds, and refuses instants that would overflow when converted to UTC.
    """
    match = _DATE_TIME_TEXT.fullmatch(text)
    if match is None:
        raise ValueError(f"{text[:40]!r} is not an RFC 3339 date-time (2026-03-10T12:00:00+00:00)")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    micro = int(((match[7] or ".")[1:] + "000000")[:6])
    offset = match[8]
    if offset in ("Z", "z"):
        zone = timezone.utc
    else:
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f"{offset!r} is not a UTC offset")
        zone = timezone((-1 if offset[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes))
    try:
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=zone).astimezone(timezone.utc)
    except OverflowError as error:
        raise ValueError(f"{text!r} is out of range") from error


def is_id(value: object, max_length: int) -> bool:
    """Whether ``value`` is an id of 1 to ``max_length`` characters (``ID_PATTERN``, no lone surrogate)."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= max_length
        and _ID.search(value) is not None
        and _SURROGATE.search(value) is None
    )


def fingerprint(payload: Mapping[str, Any]) -> str:
    """sha256 of the payload's canonical JSON without ``VOLATILE_FIELDS``: two deliveries of one
    handoff have the same fingerprint, a different handoff under the same key does not.
    """
    stable = {name: value for name, value in payload.items() if name not in VOLATILE_FIELDS}
    text = json.dumps(stable, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _finite(checker: Any, instance: object) -> bool:
    """JSON Schema's ``number``, without NaN and the infinities (JSON has neither)."""
    if isinstance(instance, bool) or not isinstance(instance, (int, float)):
        return False
    return isinstance(instance, int) or math.isfinite(instance)


def _date_time(value: object) -> bool:
    if isinstance(value, str):
        parse_date_time(value)
    return True


@lru_cache(maxsize=1)
def validator() -> Any:
    """The payload validator: draft 2020-12 with finite numbers and asserted ``date-time``; built once."""
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.validators import extend

    checker = FormatChecker(formats=())
    checker.checks("date-time", raises=ValueError)(_date_time)
    finite = extend(
        Draft202012Validator,
        type_checker=Draft202012Validator.TYPE_CHECKER.redefine("number", _finite),
    )
    return finite(SCHEMA, format_checker=checker)


def _problem(error: Any) -> ContractError:
    if error.validator == "not" and not error.path:
        return ContractError(
            "emotion_processing", "opted out: trajectory, tone, explanation and emotions must be absent"
        )
    message = error.message
    if error.validator == "pattern" and error.validator_value == ID_PATTERN:
        message = (
            f"{_short(error.instance)} has a character an id may not have "
            "(a control character, an invisible mark or a line break)"
        )
    if len(message) > MAX_PROBLEM_CHARS:
        message = f"{message[:MAX_PROBLEM_CHARS]}… (fails {error.validator!r})"
    return ContractError(_path(error.path), message)


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}…"


def _first_error(payload: Mapping[str, Any]) -> ContractError | None:
    errors = sorted(
        validator().iter_errors(dict(payload)), key=lambda e: (len(e.path), list(map(str, e.path)))
    )
    return _problem(errors[0]) if errors else None


def validate_payload(payload: object) -> HandoffPayload:
    """The payload, if it follows the contract; otherwise ContractError naming the first bad field."""
    if not isinstance(payload, Mapping):
        raise ContractError("", "must be a JSON object")
    problem = _first_error(payload)
    if problem is not None:
        raise problem
    return HandoffPayload(**payload)  # type: ignore[typeddict-item]


def salvage(document: object) -> tuple[dict[str, Any], str | None]:
    """A stored payload as far as it follows the contract, and what is wrong with it (None: nothing).

    For handoffs stored before a check existed (a NaN, an explanation 900 levels deep): the fields
    that follow their schema are kept, the others left out, so the handoff can still be shown.
    """
    if not isinstance(document, Mapping):
        return {}, "the stored payload is not a JSON object"
    problem = _first_error(document)
    if problem is None:
        return dict(document), None
    properties, check = SCHEMA["properties"], validator()
    kept = {
        name: value
        for name, value in document.items()
        if name in properties
        and check.evolve(schema={**properties[name], "$defs": SCHEMA["$defs"]}).is_valid(value)
    }
    processing = kept.get("emotion_processing")
    if isinstance(processing, Mapping) and processing.get("enabled") is False:
        kept = {name: value for name, value in kept.items() if name not in EMOTIONAL_FIELDS}
    return kept, str(problem)
