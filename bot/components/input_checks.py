r"""What the Rasa server accepts from a customer channel, checked where it enters, before any store.

One set of rules for REST (bot/components/checked_rest_channel.py), socket.io
(bot/components/web_chat_channel.py) and SMS/WhatsApp (bot/components/twilio_channel.py).  A channel
turns ``InvalidInput`` into its own refusal: a 400 saying why on REST and Twilio, an error event
on socket.io.  The limits, and why:

- **Conversation ids** (REST ``sender``, socket.io ``session_id``, Twilio ``From``; each channel
  stores its conversations under its own prefix, handoff/shared/conversation_ids.py): 1 to
  ``MAX_ID_CHARS`` (128) characters, every one printable (``str.isprintable``): no NUL or other
  control character, no lone surrogate, no invisible format character (RTL mark, zero-width
  space), not blank.  The id is the key of the conversation in the tracker store (Rasa's
  ``sender_id`` is a VARCHAR(255); SQLite cannot encode a lone surrogate and PostgreSQL refuses
  NUL, and Rasa 3.6 *exits* on the first), in the handoff service (255) and in log lines.
  128 is four times a UUID, and leaves room for ``whatsapp:+E164``.
- **Message text**: at most ``MAX_TEXT_CHARS`` (20 000) characters, refused above that: a long
  pasted e-mail, and the handoff service's limit for text.  Rasa parses a message on its event
  loop, so its length is how long every other customer waits: 200 000 characters took 1.5 s, and
  a regex that backtracks (the e-mail pattern in data/nlu/nlu.yml, quadratic on "a.a.a...") minutes.
  Lone surrogates, NUL and the other control characters but tab and newlines become U+FFFD
  (``clean_text``): the sentence encoder cannot encode a lone surrogate, and nothing downstream
  wants NUL or terminal escapes.  The message is still answered.
- **metadata** (REST, socket.io): a JSON object nested at most ``MAX_METADATA_DEPTH`` (8) levels,
  at most ``MAX_METADATA_BYTES`` (16 KiB) as compact UTF-8 JSON, with no lone surrogate or NUL in
  any key or string and no NaN or Infinity.  It is stored with every message; who the customer
  is never comes from it but from a signed identity token (bot/components/verified_identity.py).
- **Request bodies**: at most ``MAX_BODY_BYTES`` (1 MiB), refused by the server with 413 from the
  Content-Length, before the body is read (bot/components/turn_guard.py); a chunked body is cut
  off at the limit.  The largest valid REST request, 20 000 characters written as JSON ``\\u``
  escapes of surrogate pairs (240 KB) plus the metadata, fits four times; the handoff service has
  the same cap, and Sanic's default would be 100 MB.  socket.io frames are capped at 1 MB by
  engine.io (``max_http_buffer_size``): a larger one closes that connection.
"""

import json
import math
import re
import unicodedata
from collections.abc import Iterator
from typing import Any

MAX_ID_CHARS = 128
MAX_TEXT_CHARS = 20_000
MAX_METADATA_DEPTH = 8
MAX_METADATA_BYTES = 16 * 1024
MAX_BODY_BYTES = 1024 * 1024

REPLACEMENT = "\ufffd"
# Lone surrogates, NUL, and every C0/C1 control character but tab, newline and carriage return.
_UNWANTED_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class InvalidInput(ValueError):
    """A value from a client that the server refuses; the message says why, for the client."""


def _describe(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if "\ud800" <= char <= "\udfff":
        return f"{code} (a lone surrogate: not valid Unicode text)"
    category = unicodedata.category(char)
    kinds = {"Cc": "a control character", "Cf": "an invisible format character", "Zl": "a line separator"}
    kinds |= {"Zp": "a paragraph separator", "Zs": "a space other than ' '", "Cn": "an unassigned code point"}
    return f"{code} ({kinds.get(category, 'not printable')})"


def check_id(value: object, field: str) -> str:
    """``value`` when it can be a conversation id; InvalidInput naming ``field`` otherwise."""
    if not isinstance(value, str):
        raise InvalidInput(f"'{field}' must be a string")
    if not value.strip():
        raise InvalidInput(f"'{field}' must not be empty or blank")
    if len(value) > MAX_ID_CHARS:
        raise InvalidInput(f"'{field}' must be at most {MAX_ID_CHARS} characters, got {len(value)}")
    if not value.isprintable():
        position, char = next((i, c) for i, c in enumerate(value) if not c.isprintable())
        raise InvalidInput(f"'{field}' must be printable text: character {position} is {_describe(char)}")
    return value


def check_text(value: object, field: str) -> str:
    """A message text of the right type and length (``clean_text`` normalises its content)."""
    if not isinstance(value, str):
        raise InvalidInput(f"'{field}' must be a string (it may be empty)")
    if len(value) > MAX_TEXT_CHARS:
        raise InvalidInput(f"'{field}' must be at most {MAX_TEXT_CHARS} characters, got {len(value)}")
    return value


def clean_text(text: str) -> str:
    """``text`` with lone surrogates, NUL and other control characters (not tab/newlines) as U+FFFD."""
    return _UNWANTED_IN_TEXT.sub(REPLACEMENT, text)


def _children(node: dict[str, Any] | list[Any]) -> Iterator[tuple[object, object]]:
    return iter(node.items()) if isinstance(node, dict) else ((None, item) for item in node)


def _check_scalar(value: object, field: str) -> None:
    if isinstance(value, str) and _UNSTORABLE.search(value):
        raise InvalidInput(f"'{field}' must not contain NUL or lone surrogates in its keys or strings")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"'{field}' must not contain NaN or Infinity (they are not JSON)")


def check_metadata(value: object, field: str = "metadata") -> dict[str, Any] | None:
    """``value`` when it is None or a JSON object within the limits above; InvalidInput otherwise."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidInput(f"'{field}' must be a JSON object when given")
    budget = MAX_METADATA_BYTES  # every key and value takes at least one byte of JSON
    pending: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > MAX_METADATA_DEPTH:
            raise InvalidInput(f"'{field}' must be nested at most {MAX_METADATA_DEPTH} levels deep")
        for key, child in _children(node):
            budget -= 1
            if budget < 0:
                raise InvalidInput(f"'{field}' must be at most {MAX_METADATA_BYTES} bytes as JSON")
            _check_scalar(key, field)
            if isinstance(child, dict | list):
                pending.append((child, depth + 1))
            else:
                _check_scalar(child, field)
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise InvalidInput(f"'{field}' must be at most {MAX_METADATA_BYTES} bytes as JSON, got {size}")
    return value
