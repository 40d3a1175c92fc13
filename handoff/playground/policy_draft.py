"""The empathy policy as the playground edits it: named numbers changed in the YAML text, then validated.

A designer's edits are ``{"frustration.weights.shouting": 0.3, "tone.warm_above": 0.25, ...}``: every
weight, carry-over and threshold of ``policy/empathy.yml`` that is a fraction (``EDITABLE``).  A draft is
the file's text with those numbers changed and nothing else (``bot.empathy.fitting.set_number``, which
`attune fit frustration` uses too), so the designer's comments survive a save; it is then read back
through the one validator (``EmpathyPolicy.from_mapping``).  What is re-scored live and what is saved are
therefore the same document.  Numbers are kept to two decimals, as the file writes them.

The whole counts of the file (``min_turns``, ``cooldown_turns``, the failure and misunderstanding
counts) are not edited here: change them in the file.  Every input is hostile: an unknown name, a
non-number, NaN or a value the validator refuses is an ``InvalidRequest`` naming it, never a 500.
"""

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final

import yaml

from bot.empathy.fitting import FrustrationDataError, set_number
from bot.empathy.policy import (
    DISTRESS_SIGNALS,
    FRUSTRATION_SIGNALS,
    EmpathyPolicy,
    EscalationRules,
    PolicyError,
    ToneThresholds,
)
from handoff.shared.errors import InvalidRequest

_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _fractions(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind) if f.type in (float, "float"))


# Field name -> (top-level section of the YAML, key inside it) for set_number.
EDITABLE: Final[dict[str, tuple[str, str]]] = {
    **{f"frustration.weights.{name}": ("frustration", name) for name in FRUSTRATION_SIGNALS},
    "frustration.carry_over": ("frustration", "carry_over"),
    "frustration.threshold": ("frustration", "threshold"),
    **{f"distress.weights.{name}": ("distress", name) for name in DISTRESS_SIGNALS},
    "distress.carry_over": ("distress", "carry_over"),
    "distress.threshold": ("distress", "threshold"),
    **{f"tone.{name}": ("tone", name) for name in _fractions(ToneThresholds)},
    **{f"escalation.{name}": ("escalation", name) for name in _fractions(EscalationRules)},
}


def values(policy: EmpathyPolicy) -> dict[str, float]:
    """Every editable number of ``policy``, by field name."""
    found: dict[str, float] = {}
    for name in EDITABLE:
        section, _, key = name.partition(".")
        if key.startswith("weights."):
            weights = policy.frustration_weights if section == "frustration" else policy.distress_weights
            found[name] = float(weights[key.removeprefix("weights.")])
        elif section in ("frustration", "distress"):
            attribute = {"carry_over": "carry", "threshold": "threshold"}[key]
            found[name] = float(getattr(policy, f"{section}_{attribute}"))
        else:
            found[name] = float(getattr(getattr(policy, section), key))
    return found


def parse_edits(document: object) -> dict[str, float]:
    """The edits in a request body's ``edits``: a mapping of EDITABLE names to finite numbers."""
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise InvalidRequest("edits: send an object of field name to number")
    edits: dict[str, float] = {}
    for name, value in document.items():
        if name not in EDITABLE:
            raise InvalidRequest(f"edits: {str(name)[:80]!r} is not a number the playground edits")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidRequest(f"edits.{name}: must be a finite number, got {str(value)[:40]!r}")
        edits[name] = round(float(value), 2)
    return edits


@dataclass(frozen=True)
class Draft:
    text: str  # the policy file with the edits applied
    policy: EmpathyPolicy

    @property
    def version(self) -> str:
        return version_of(self.text)


def version_of(text: str) -> str:
    """A short digest of a policy file's text: what the page saw, what the audit log records."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def read(text: str, source: str) -> EmpathyPolicy:
    """The policy in ``text``, or InvalidRequest with the validator's message."""
    try:
        # libyaml's safe loader when installed: a draft is read on every keystroke (the 50 ms budget).
        return EmpathyPolicy.from_mapping(yaml.load(text, Loader=_LOADER), source=source)
    except yaml.YAMLError as error:
        raise InvalidRequest(f"{source}: not valid YAML: {error}") from error
    except PolicyError as error:
        raise InvalidRequest(str(error)) from error


def draft(text: str, edits: Mapping[str, float], source: str) -> Draft:
    """``text`` (the policy file) with ``edits`` applied, validated; InvalidRequest names what is wrong."""
    changed = text
    for name, value in edits.items():
        section, key = EDITABLE[name]
        try:
            changed = set_number(changed, section, key, value)
        except FrustrationDataError as error:
            raise InvalidRequest(f"{source}: cannot change {name}: {error}") from error
    return Draft(changed, read(changed, source))
