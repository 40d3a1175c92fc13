"""Masking personal data for console users without clearance (role ``agent``).

E-mail addresses, phone numbers and long digit runs (cards, IBANs) are replaced in every text an
agent sees; supervisors and admins see the original.  Applied when data leaves the service (the
console pages and the API both go through ``mask_payload``), never to what is stored.
"""

import re
from typing import Any

_EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")
_PHONE = re.compile(r"(?<!\w)\+?\d[\d ()-]{7,}\d(?!\w)")


def mask_text(text: str) -> str:
    masked = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(lambda m: "•" * 4 + m.group(0)[-2:], masked)


def mask_payload(value: Any) -> Any:
    """A copy of ``value`` with every string masked (keys stay as they are)."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [mask_payload(v) for v in value]
    if isinstance(value, dict):
        return {k: mask_payload(v) for k, v in value.items()}
    return value
