"""The CSAT policy file (``policy/csat.yml``) for the action server: read on first use and checked
then (bot/empathy/csat_policy.py holds the policy and its checks, shared with the handoff service's
idle trigger); a mistake raises ``CsatPolicyError`` naming the key, like the other policy files
(policy/README.md).  Tests build their own with ``parse``.
"""

from pathlib import Path

import yaml

from bot.empathy.csat_policy import CsatPolicy, CsatPolicyError, parse

__all__ = ["CsatPolicy", "CsatPolicyError", "load", "parse"]


def load(path: str | Path) -> CsatPolicy:
    """The policy in the file at ``path``, checked."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CsatPolicyError(f"{path}: cannot read the CSAT policy ({error.strerror})") from error
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CsatPolicyError(f"{path}: not valid YAML ({error})") from error
    return parse(document, str(path))
