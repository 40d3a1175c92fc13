"""The workspace policy (``policy/workspace.yml``): disposition reason codes and who may do what.

Read and validated once, when the app is built (``load``); a mistake stops the service with a
message naming the key, like policy/access.yml.  Tests build their own with ``parse``.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from handoff.core.models import ROLES
from handoff.core.settings import ConfigError
from handoff.shared.policy_yaml import exact_keys, read_document

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "policy" / "workspace.yml"

READ_OTHERS_NOTES: Final = "read_others_notes"
REASSIGN: Final = "reassign"
EDIT_CANNED: Final = "edit_canned_responses"
MANAGE_TEAM: Final = "manage_team"
PERMISSIONS: Final = (READ_OTHERS_NOTES, REASSIGN, EDIT_CANNED, MANAGE_TEAM)
DISPOSITIONS: Final = "dispositions"
KEYS: Final = (DISPOSITIONS, *PERMISSIONS)

CODE = re.compile("[a-z0-9_]{1,32}")
MAX_LABEL_CHARS: Final = 80
MAX_DISPOSITIONS: Final = 50


@dataclass(frozen=True)
class Disposition:
    code: str
    label: str


@dataclass(frozen=True)
class WorkspacePolicy:
    dispositions: tuple[Disposition, ...]
    # For each permission of PERMISSIONS, the roles that have it.
    roles: Mapping[str, frozenset[str]]
    source: str = "built-in"

    def allows(self, role: str, permission: str) -> bool:
        return role in self.roles.get(permission, frozenset())

    def disposition(self, code: str) -> Disposition | None:
        """The configured disposition called ``code``; None for anything else (a hostile form field)."""
        return next((d for d in self.dispositions if d.code == code), None)


def parse(document: object, source: str) -> WorkspacePolicy:
    """The policy in ``document`` (the parsed YAML), or ConfigError naming the key that is wrong."""
    document = exact_keys(document, KEYS, source, ConfigError)
    roles = {
        permission: _roles(document[permission], f"{source}: {permission!r}") for permission in PERMISSIONS
    }
    return WorkspacePolicy(_dispositions(document[DISPOSITIONS], source), roles, source)


def _roles(value: object, where: str) -> frozenset[str]:
    value = [] if value is None else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of roles, got {value!r}")
    for role in value:
        if role not in ROLES:
            raise ConfigError(f"{where} names {role!r}; it may name {', '.join(ROLES)}")
    return frozenset(value)


def _dispositions(value: object, source: str) -> tuple[Disposition, ...]:
    where = f"{source}: {DISPOSITIONS!r}"
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_DISPOSITIONS:
        raise ConfigError(
            f"{where} must list 1 to {MAX_DISPOSITIONS} reason codes (an agent must choose one)"
        )
    found: list[Disposition] = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping) or set(item) != {"code", "label"}:
            raise ConfigError(f"{where}[{index}] must be a mapping with exactly code and label")
        code, label = item["code"], item["label"]
        if not isinstance(code, str) or not CODE.fullmatch(code):
            raise ConfigError(f"{where}[{index}].code must be 1 to 32 of a-z, 0-9 and _, got {code!r}")
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL_CHARS:
            raise ConfigError(f"{where}[{index}].label must be 1 to {MAX_LABEL_CHARS} characters")
        if any(d.code == code for d in found):
            raise ConfigError(f"{where}[{index}].code {code!r} is listed twice")
        found.append(Disposition(code, label.strip()))
    return tuple(found)


def load(path: str | Path | None = None) -> WorkspacePolicy:
    """Reads and validates the policy file (default ``policy/workspace.yml``)."""
    file = Path(path) if path else DEFAULT_FILE
    return parse(read_document(file, ConfigError, "workspace policy"), str(file))
