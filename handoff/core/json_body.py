r"""The one JSON reader of the handoff service: every view that takes a JSON body parses it here.

JSON bodies are hostile until checked (RFC 8259 and STYLE.md), so parsing refuses, with an
``InvalidJson`` or ``InvalidEncoding`` (handoff/shared/errors.py) naming the problem, and the field where
it can:

- bytes that are not UTF-8 (whatever charset the Content-Type claims: JSON is UTF-8);
- nesting deeper than ``MAX_DEPTH``: measured on the text *before* it is parsed, so ``json.loads``
  never recurses into Python's recursion limit (10 000 ``[`` used to be a ``RecursionError``);
- number literals longer than ``MAX_NUMBER_CHARS`` (a 5 001-digit integer used to be a
  ``ValueError`` from Python's int-string limit) and numbers a float cannot hold (``1e999``);
- ``NaN``, ``Infinity`` and ``-Infinity``, which are not JSON and break every reader downstream;
- lone surrogates (``"\\udfff"`` escapes) in any string or key: no store or encoder can take them.

The size of a body is capped before it is read (aiohttp's ``client_max_size``, a 413).
No aiohttp here: views read the bytes (handoff/core/inputs.py), this module judges them.
"""

import json
import math
import re
from typing import Any, Final

from handoff.shared.errors import InvalidEncoding, InvalidJson

MAX_DEPTH: Final = 32
MAX_NUMBER_CHARS: Final = 64
# A JSON string literal (escapes included), so brackets inside strings do not count as nesting.
_STRING: Final = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET: Final = re.compile(r"[\[\]{}]")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def parse(raw: bytes) -> Any:
    """The JSON value in a request body, or ``InvalidJson`` / ``InvalidEncoding`` saying why not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidEncoding(
            f"the body is not valid UTF-8 (byte {error.start}): send JSON encoded as UTF-8"
        ) from error
    value = loads(text)
    path = surrogate_at(value)
    if path is not None:
        raise InvalidEncoding(
            f"{path or 'the body'}: contains a lone surrogate (an unpaired \\ud800-\\udfff)"
        )
    return value


def loads(text: str, *, allow_constants: bool = False) -> Any:
    """``json.loads`` with the depth and number limits; ``allow_constants`` reads NaN and Infinity
    (for data stored before they were refused: the contract's schema then rejects them by field).
    """
    check_depth(text)
    try:
        return json.loads(
            text,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=float if allow_constants else _no_constant,
        )
    except json.JSONDecodeError as error:
        raise InvalidJson(f"the body is not valid JSON: {error.msg} at {error.pos}") from error
    except RecursionError as error:  # unreachable after check_depth; kept so it can never be a 500
        raise InvalidJson(f"the body nests deeper than {MAX_DEPTH} levels") from error


def check_depth(text: str) -> None:
    """``InvalidJson`` when arrays and objects nest deeper than ``MAX_DEPTH`` (strings skipped)."""
    depth = 0
    for bracket in _BRACKET.finditer(_STRING.sub('""', text)):
        depth += 1 if bracket.group() in "[{" else -1
        if depth > MAX_DEPTH:
            raise InvalidJson(f"the body nests deeper than {MAX_DEPTH} levels of arrays and objects")


def surrogate_at(value: Any, path: str = "") -> str | None:
    """The path of the first string or key holding a lone surrogate, or None.  Recursion is bounded:
    values come from ``loads``, at most ``MAX_DEPTH`` deep.
    """
    if isinstance(value, str):
        return path if _SURROGATE.search(value) else None
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = surrogate_at(item, f"{path}[{index}]")
            if found is not None:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if _SURROGATE.search(key):
                return here.encode("utf-8", "backslashreplace").decode("ascii", "replace")
            found = surrogate_at(item, here)
            if found is not None:
                return found
    return None


def _integer(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise InvalidJson(f"a number has {len(literal)} characters; at most {MAX_NUMBER_CHARS} are accepted")
    return int(literal)


def _float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise InvalidJson(f"a number has {len(literal)} characters; at most {MAX_NUMBER_CHARS} are accepted")
    number = float(literal)
    if not math.isfinite(number):
        raise InvalidJson(f"the number {literal[:20]} is too large for a 64-bit float")
    return number


def _no_constant(name: str) -> float:
    raise InvalidJson(f"{name} is not a JSON number: send finite numbers only")
