"""The CSAT policy (``policy/csat.yml``) as data, and its checks: whether the question is asked, how
long a customer is left alone after being asked, and the idle time after which a bot conversation
counts as resolved.

Pure (no file, no YAML library): ``parse`` takes the parsed document.  The action server loads the
file with actions/csat_policy.py (for the question itself), the handoff service with
handoff/analytics/idle_worker.py (for the idle trigger); both check it here, so the two never read
it differently.  A mistake raises ``CsatPolicyError`` naming the key.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

ENABLED: Final = "enabled"
SUPPRESSION_DAYS: Final = "suppression_days"
IDLE_MINUTES: Final = "idle_minutes"
KEYS: Final = (ENABLED, SUPPRESSION_DAYS, IDLE_MINUTES)
# A year at most: "never ask again" is ``enabled: false``, not a huge number that overflows a clock.
MAX_SUPPRESSION_DAYS: Final = 365
MAX_IDLE_MINUTES: Final = 24 * 60


class CsatPolicyError(ValueError):
    """policy/csat.yml is missing or malformed; the message names the key."""


@dataclass(frozen=True)
class CsatPolicy:
    enabled: bool = True
    suppression_days: int = 30
    idle_minutes: int = 15

    @property
    def suppression_seconds(self) -> float:
        return self.suppression_days * 86400.0


def parse(document: object, source: str) -> CsatPolicy:
    """The policy in ``document`` (the parsed YAML), or CsatPolicyError naming the key that is wrong."""
    if not isinstance(document, Mapping):
        raise CsatPolicyError(f"{source}: must be a mapping with the keys {', '.join(KEYS)}")
    unknown = sorted(str(key) for key in document if key not in KEYS)
    if unknown:
        raise CsatPolicyError(f"{source}: unknown key {unknown[0]!r} (expected: {', '.join(KEYS)})")
    missing = [key for key in KEYS if key not in document]
    if missing:
        raise CsatPolicyError(f"{source}: missing key {missing[0]!r}")
    enabled = document[ENABLED]
    if not isinstance(enabled, bool):
        raise CsatPolicyError(f"{source}: {ENABLED} must be true or false, got {enabled!r}")
    return CsatPolicy(
        enabled=enabled,
        suppression_days=_whole(document, SUPPRESSION_DAYS, 1, MAX_SUPPRESSION_DAYS, source),
        idle_minutes=_whole(document, IDLE_MINUTES, 1, MAX_IDLE_MINUTES, source),
    )


def _whole(document: Mapping[object, object], key: str, low: int, high: int, source: str) -> int:
    value = document[key]
    # bool is an int in Python: "true" days is a mistake, not 1.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise CsatPolicyError(f"{source}: {key} must be a whole number from {low} to {high}, got {value!r}")
    return value
