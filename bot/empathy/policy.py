"""The empathy policy: every weight and threshold the engine uses, from ``policy/empathy.yml``.

Bot designers tune how quickly Attune notices frustration, when the tone changes and when a
human is offered by editing that one file.  ``EmpathyPolicy.from_mapping`` validates it and
names the key at fault, so a typo fails at start-up instead of silently changing behaviour.
The YAML is parsed by the caller (this package stays stdlib + numpy).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

FRUSTRATION_SIGNALS: Final = (
    "negative_emotion",
    "positive_emotion",
    "confusion",
    "shouting",
    "punctuation",
    "profanity",
    "repetition_words",
    "sarcasm",
    "correction",
    "failed_self_service",
    "nlu_fallback",
    "repeated_intent",
    "rephrase",
    "fast_reply",
    "longer_message",
    "human_request",
    "channel_return",
)
DISTRESS_SIGNALS: Final = ("fear", "sadness", "distress_words")


class PolicyError(ValueError):
    """The empathy policy file is invalid; the message names the key."""


@dataclass(frozen=True)
class ToneThresholds:
    warm_above: float = 0.20
    apologetic_above: float = 0.45
    calm_direct_above: float = 0.70
    distress_warm_above: float = 0.35
    hysteresis: float = 0.08
    min_turns: int = 2


@dataclass(frozen=True)
class EscalationRules:
    offer_human_above: float = 0.60
    offer_human_after_failures: int = 2
    offer_human_after_misunderstandings: int = 4
    callback_distress_above: float = 0.60
    priority_distress_above: float = 0.45
    cooldown_turns: int = 3


@dataclass(frozen=True)
class EmpathyPolicy:
    frustration_weights: Mapping[str, float]
    distress_weights: Mapping[str, float]
    frustration_carry: float = 0.6
    distress_carry: float = 0.6
    frustration_threshold: float = 0.5
    distress_threshold: float = 0.5
    tone: ToneThresholds = field(default_factory=ToneThresholds)
    escalation: EscalationRules = field(default_factory=EscalationRules)
    version: str = "1"

    @classmethod
    def from_mapping(cls, document: Any, source: str = "policy/empathy.yml") -> "EmpathyPolicy":
        if not isinstance(document, Mapping):
            raise PolicyError(f"{source}: expected a mapping at the top level")
        _known(document, {"version", "frustration", "distress", "tone", "escalation"}, source)
        if str(document.get("version")) != "1":
            raise PolicyError(f"{source}: 'version' must be \"1\", got {document.get('version')!r}")
        frustration = _section(document, "frustration", source)
        distress = _section(document, "distress", source)
        _known(frustration, {"weights", "carry_over", "threshold"}, f"{source}: frustration")
        _known(distress, {"weights", "carry_over", "threshold"}, f"{source}: distress")
        return cls(
            frustration_weights=_weights(frustration, FRUSTRATION_SIGNALS, f"{source}: frustration.weights"),
            distress_weights=_weights(distress, DISTRESS_SIGNALS, f"{source}: distress.weights"),
            frustration_carry=_unit(frustration, "carry_over", f"{source}: frustration"),
            distress_carry=_unit(distress, "carry_over", f"{source}: distress"),
            frustration_threshold=_unit(frustration, "threshold", f"{source}: frustration"),
            distress_threshold=_unit(distress, "threshold", f"{source}: distress"),
            tone=_dataclass(ToneThresholds, _section(document, "tone", source), f"{source}: tone"),
            escalation=_dataclass(
                EscalationRules, _section(document, "escalation", source), f"{source}: escalation"
            ),
            version="1",
        )


def _section(document: Mapping[str, Any], key: str, source: str) -> Mapping[str, Any]:
    value = document.get(key)
    if not isinstance(value, Mapping):
        raise PolicyError(f"{source}: '{key}' must be a mapping")
    return value


def _known(section: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(section) - allowed
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _number(section: Mapping[str, Any], key: str, where: str) -> float:
    value = section.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise PolicyError(f"{where}.{key}: must be a number, got {value!r}")
    return float(value)


def _unit(section: Mapping[str, Any], key: str, where: str) -> float:
    value = _number(section, key, where)
    if not 0.0 <= value <= 1.0:
        raise PolicyError(f"{where}.{key}: must be between 0 and 1, got {value}")
    return value


def _weights(section: Mapping[str, Any], names: tuple[str, ...], where: str) -> dict[str, float]:
    weights = section.get("weights")
    if not isinstance(weights, Mapping):
        raise PolicyError(f"{where}: must be a mapping of signal name to weight")
    _known(weights, set(names), where)
    missing = [name for name in names if name not in weights]
    if missing:
        raise PolicyError(f"{where}: missing weight(s) for {missing} (use 0 to switch a signal off)")
    return {name: _bounded(weights, name, where, -1.0, 1.0) for name in names}


def _bounded(section: Mapping[str, Any], key: str, where: str, low: float, high: float) -> float:
    value = _number(section, key, where)
    if not low <= value <= high:
        raise PolicyError(f"{where}.{key}: must be between {low} and {high}, got {value}")
    return value


def _dataclass(kind: type, section: Mapping[str, Any], where: str) -> Any:
    names = {f.name: f for f in fields(kind)}
    _known(section, set(names), where)
    values: dict[str, Any] = {}
    for name, spec in names.items():
        if name not in section:
            raise PolicyError(f"{where}.{name}: missing")
        if spec.type in (int, "int"):
            value = section[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise PolicyError(f"{where}.{name}: must be a whole number >= 0, got {value!r}")
            values[name] = value
        else:
            values[name] = _unit(section, name, where)
    return kind(**values)
