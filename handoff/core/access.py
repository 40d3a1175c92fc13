"""Who sees what: the access policy (``policy/access.yml``, or the file ATTUNE_ACCESS_POLICY names).

The file lists, for each capability, the principals that have it: the console roles of
handoff/core/models.py (agent, supervisor, admin) and ``api``, any caller holding the API's bearer token.
It is read and validated once, by the app factory; a mistake stops the service with a message that
names the key.  The views ask this module what a principal may see and never decide it themselves:

- ``distress_indicators``: the payload's trajectory, tone, explanation, per-message emotions and the
  scores in the trigger's reasons; withheld, the payload says so (``emotion_processing.withheld``);
- ``phone_numbers``: call-back numbers, the Twilio request, phone numbers inside any text;
- ``unmasked_transcripts``: personal data in the conversation and every other text of a handoff
  (e-mails, cards, IBANs, addresses, postcodes: handoff/shared/masking.py);
- ``review_flags`` and ``audit_log``: the console pages for reviewing emotion flags and browsing the
  audit log (console roles only; the audit API needs the bearer token);
- ``agent_console``: the agent console itself (queue, handoffs, workspace, search, history; console roles
  only).  A role without it (the ``designer``) sees no customer's conversation;
- ``empathy_playground``: the designer's playground (handoff/playground/): scoring typed messages and
  saving the empathy policy (console roles only);
- ``supervisor_dashboard``: the analytics dashboard (handoff/dashboard/): counts and rates per day and
  channel, no customer's conversation (console roles only).

The last two came with issue 20: a file written before may leave them out, and then they are
``OPTIONAL_DEFAULTS`` (the agent console for agents, supervisors and admins; the playground for designers
and admins; the dashboard, from issue 21, for supervisors and admins), so an operator's policy keeps
working; the shipped file lists them.
"""

import copy
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from handoff.core.models import ROLES
from handoff.core.settings import ConfigError
from handoff.shared.masking import ALL, PHONE, mask_payload, mask_text
from handoff.shared.payload_contract import EMOTIONAL_FIELDS
from handoff.shared.policy_yaml import read_document

DEFAULT_FILE = Path(__file__).resolve().parents[2] / "policy" / "access.yml"  # run-time policy, beside data/

DISTRESS_INDICATORS = "distress_indicators"
PHONE_NUMBERS = "phone_numbers"
UNMASKED_TRANSCRIPTS = "unmasked_transcripts"
REVIEW_FLAGS = "review_flags"
AUDIT_LOG = "audit_log"
AGENT_CONSOLE = "agent_console"
EMPATHY_PLAYGROUND = "empathy_playground"
SUPERVISOR_DASHBOARD = "supervisor_dashboard"
CAPABILITIES = (
    DISTRESS_INDICATORS,
    PHONE_NUMBERS,
    UNMASKED_TRANSCRIPTS,
    REVIEW_FLAGS,
    AUDIT_LOG,
    AGENT_CONSOLE,
    EMPATHY_PLAYGROUND,
    SUPERVISOR_DASHBOARD,
)
# Console pages: only people who log in can have these.
_CONSOLE_ONLY = (REVIEW_FLAGS, AUDIT_LOG, AGENT_CONSOLE, EMPATHY_PLAYGROUND, SUPERVISOR_DASHBOARD)
# Keys a policy file from before issue 20 does not have, and who has them then.
OPTIONAL_DEFAULTS = {
    AGENT_CONSOLE: ["agent", "supervisor", "admin"],
    EMPATHY_PLAYGROUND: ["designer", "admin"],
    SUPERVISOR_DASHBOARD: ["supervisor", "admin"],
}

API = "api"
PRINCIPALS = (*ROLES, API)

_SCORED_REASONS = ("frustration ", "distress ")
WITHHELD_NOTE = "Distress indicators are not shown to your role."


@dataclass(frozen=True)
class AccessPolicy:
    """For each capability, the principals that have it."""

    granted: Mapping[str, frozenset[str]]
    source: str = "built-in"

    def grants(self, principal: str) -> frozenset[str]:
        """The capabilities of ``principal`` (a role, or ``api``); none for anyone unknown."""
        return frozenset(c for c, principals in self.granted.items() if principal in principals)

    def allows(self, principal: str, capability: str) -> bool:
        return principal in self.granted.get(capability, frozenset())


def parse(document: object, source: str) -> AccessPolicy:
    """The policy in ``document`` (the parsed YAML), or ConfigError naming the key that is wrong."""
    if not isinstance(document, Mapping):
        raise ConfigError(f"{source}: must be a mapping of capability to a list of roles")
    unknown = sorted(str(key) for key in document if key not in CAPABILITIES)
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r} (expected: {', '.join(CAPABILITIES)})")
    granted: dict[str, frozenset[str]] = {}
    for capability in CAPABILITIES:
        if capability not in document and capability not in OPTIONAL_DEFAULTS:
            raise ConfigError(f"{source}: {capability!r} is missing (list the roles that have it, or [])")
        value = document.get(capability, OPTIONAL_DEFAULTS.get(capability))
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{source}: {capability!r} must be a list of roles, got {value!r}")
        allowed = ROLES if capability in _CONSOLE_ONLY else PRINCIPALS
        for principal in value:
            if principal not in allowed:
                raise ConfigError(
                    f"{source}: {capability!r} names {principal!r}; it may name {', '.join(allowed)}"
                )
        granted[capability] = frozenset(value)
    return AccessPolicy(granted, source)


def load(path: str | Path | None = None) -> AccessPolicy:
    """Reads and validates the policy file (default ``policy/access.yml``)."""
    file = Path(path) if path else DEFAULT_FILE
    return parse(read_document(file, ConfigError, "ATTUNE_ACCESS_POLICY"), str(file))


# --- what leaves the service --------------------------------------------------------------
def mask_kinds(grants: Collection[str]) -> frozenset[str]:
    """The kinds of personal data (handoff/shared/masking.py) to mask for someone with ``grants``."""
    kinds = set() if UNMASKED_TRANSCRIPTS in grants else set(ALL - {PHONE})
    if PHONE_NUMBERS not in grants:
        kinds.add(PHONE)
    return frozenset(kinds)


def visible_payload(payload: Mapping[str, Any], grants: Collection[str]) -> dict[str, Any]:
    """A copy of a handoff payload with what ``grants`` do not cover masked or left out."""
    visible = copy.deepcopy(dict(payload))
    if DISTRESS_INDICATORS not in grants:
        withheld = [field for field in EMOTIONAL_FIELDS if visible.pop(field, None) is not None]
        trigger = visible.get("trigger")
        if isinstance(trigger, dict) and isinstance(trigger.get("reasons"), list):
            trigger["reasons"] = [r for r in trigger["reasons"] if not str(r).startswith(_SCORED_REASONS)]
        processing = visible.get("emotion_processing")
        if isinstance(processing, dict) and processing.get("enabled"):
            processing.update(withheld=True, note=WITHHELD_NOTE)
        elif withheld:
            visible["emotion_processing"] = {"enabled": False, "withheld": True, "note": WITHHELD_NOTE}
    return dict(mask_payload(visible, mask_kinds(grants)))


def visible_handoff(data: Mapping[str, Any], grants: Collection[str]) -> dict[str, Any]:
    """A stored handoff as the API shows it (``StoredHandoff.to_dict``): its payload and its
    conversation id (a phone number on SMS) masked as ``grants`` require.
    """
    visible = dict(data)
    kinds = mask_kinds(grants)
    if isinstance(visible.get("conversation_id"), str):
        visible["conversation_id"] = mask_text(visible["conversation_id"], kinds)
    if isinstance(visible.get("payload"), Mapping):
        visible["payload"] = visible_payload(visible["payload"], grants)
    if isinstance(visible.get("resolution"), Mapping):  # the human part of the conversation
        resolution = dict(visible["resolution"])
        resolution["transcript"] = mask_payload(resolution.get("transcript"), kinds)
        visible["resolution"] = resolution
    return visible


def visible_text(text: str, grants: Collection[str]) -> str:
    return mask_text(text, mask_kinds(grants))


def visible_transcript(lines: Iterable[Mapping[str, Any]], grants: Collection[str]) -> list[Any]:
    return list(mask_payload([dict(line) for line in lines], mask_kinds(grants)))


def visible_call(call: Mapping[str, Any], grants: Collection[str]) -> dict[str, Any]:
    """A call-back (``CallState.to_dict(cleared=PHONE_NUMBERS in grants)``) with numbers masked
    anywhere else they appear (Twilio's error messages quote them).
    """
    return dict(mask_payload(dict(call), set() if PHONE_NUMBERS in grants else {PHONE}))
