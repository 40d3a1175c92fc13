"""Free text an agent typed (a note, a canned response, a transfer note), checked before it is stored.

Forms arrive as UTF-8 without NUL (handoff/core/inputs.py); here the rest of what no colleague
should be shown is refused: control characters other than newline and tab, and the Unicode
direction overrides that make a note read differently from what it holds.
"""

import re

from handoff.shared.errors import InvalidRequest

_FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def checked(value: str | None, what: str, max_chars: int, required: bool = True) -> str:
    """``value`` stripped (CRLF read as a newline), or InvalidRequest saying what is wrong with it."""
    text = (value or "").replace("\r\n", "\n").strip()
    if not text:
        if required:
            raise InvalidRequest(f"{what} is empty")
        return ""
    if len(text) > max_chars:
        raise InvalidRequest(f"{what} has {len(text)} characters; at most {max_chars}")
    if _FORBIDDEN.search(text):
        raise InvalidRequest(f"{what} contains control or text-direction characters")
    return text
