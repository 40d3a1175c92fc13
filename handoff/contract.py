"""The handoff payload: what the action server sends when a conversation goes to a person.

Defined once, here, as a JSON Schema (``SCHEMA``) with matching TypedDicts for the code; the
published copy is ``handoff/schema/handoff-payload.v1.json`` (``python -m handoff schema`` writes
it; a test fails if it drifts) with an example next to it.  Both sides import this module: the
action server to build payloads, the handoff service to validate them.  No Rasa, no I/O.

``schema_version`` changes only for incompatible changes; new optional fields keep "1".
"""

from collections.abc import Mapping
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


_TEXT = {"type": "string", "maxLength": 20_000}
_ID = {"type": "string", "minLength": 1, "maxLength": 255}
_UNIT = {"type": "number", "minimum": 0, "maximum": 1}

SCHEMA: Final[dict[str, Any]] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://attune.example/schemas/handoff-payload.v1.json",
    "title": "Attune handoff payload",
    "description": "A conversation handed from the Attune assistant to a person, with its emotional context.",
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
        "idempotency_key": {"type": "string", "minLength": 8, "maxLength": 128},
        "conversation_id": _ID,
        "customer": {
            "type": "object",
            "description": "Pseudonymous: never the raw e-mail or phone number.",
            "required": ["pseudonym"],
            "additionalProperties": False,
            "properties": {"pseudonym": _ID, "email_masked": {"type": ["string", "null"]}},
        },
        "channel": {"type": "string", "minLength": 1, "maxLength": 40},
        "created_at": {"type": "string", "format": "date-time"},
        "reason": {"enum": list(REASONS)},
        "priority": {"enum": list(PRIORITIES)},
        "trigger": {
            "type": "object",
            "required": ["decision", "reasons", "turn"],
            "additionalProperties": False,
            "properties": {
                "decision": {"enum": ["handoff", "offer_human", "offer_callback"]},
                "reasons": {"type": "array", "items": _TEXT, "maxItems": 20},
                "turn": {"type": "integer", "minimum": 0},
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
                    "turn": {"type": "integer", "minimum": 0},
                    "frustration": _UNIT,
                    "distress": _UNIT,
                    "top_signals": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
                },
            },
        },
        "tone": {"enum": ["neutral", "warm", "apologetic", "calm_direct"]},
        "explanation": {
            "type": "object",
            "description": "The empathy engine's explanation of the trigger turn.",
        },
        "intents": {
            "type": "array",
            "maxItems": 500,
            "items": {
                "type": "object",
                "required": ["turn", "intent", "confidence"],
                "additionalProperties": False,
                "properties": {
                    "turn": {"type": "integer", "minimum": 0},
                    "intent": {"type": "string"},
                    "confidence": _UNIT,
                },
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
                    "topic": {"type": ["string", "null"]},
                    "tried": _TEXT,
                    "outcome": {"type": "string"},
                    "why": _TEXT,
                },
            },
        },
        "slots": {"type": "object"},
        "summary": {"type": "string", "minLength": 1, "maxLength": 4000},
        "recommended_approach": {"type": "array", "items": _TEXT, "maxItems": 20},
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
                    "at": {"type": ["string", "null"]},
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
                    "turn": {"type": "integer", "minimum": 0},
                    "text": _TEXT,
                    "top": {"type": "string"},
                    "probabilities": {"type": "object", "additionalProperties": _UNIT},
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
                "phone_masked": {"type": ["string", "null"]},
                "phone": {
                    "type": "string",
                    "pattern": "^\\+[1-9][0-9]{6,14}$",
                    "description": "E.164 number to call. The service keeps it only with the call job, "
                    "never in the stored payload.",
                },
                "consent_at": {"type": "string", "format": "date-time"},
                "window": {
                    "type": ["object", "null"],
                    "description": "When the customer agreed to be called; null means now.",
                    "required": ["start", "end"],
                    "additionalProperties": False,
                    "properties": {
                        "start": {"type": "string", "format": "date-time"},
                        "end": {"type": "string", "format": "date-time"},
                        "label": _TEXT,
                    },
                },
                "timezone": {"type": ["string", "null"]},
            },
            "dependentRequired": {"phone": ["consent_at"]},
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
}


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate_payload(payload: object) -> HandoffPayload:
    """The payload, if it follows the contract; otherwise ContractError naming the first bad field."""
    from jsonschema import Draft202012Validator

    if not isinstance(payload, Mapping):
        raise ContractError("", "must be a JSON object")
    validator = Draft202012Validator(SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(dict(payload)), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        first = errors[0]
        if first.validator == "not" and not first.path:
            raise ContractError(
                "emotion_processing", "opted out: trajectory, tone, explanation and emotions must be absent"
            )
        raise ContractError(_path(first.path), first.message)
    return HandoffPayload(**payload)  # type: ignore[typeddict-item]
