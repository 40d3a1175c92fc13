"""Conversation ids in the Rasa HTTP API's paths are percent-decoded before a route sees them.

Rasa 3.6 (Sanic 21.12) matches ``/conversations/<conversation_id:path>/...`` against the raw path
and hands the route the id still percent-encoded.  A caller that wrote an id into the path as it
is let the id choose the route: the sender ``victim/tracker?x=`` made ``.../tracker`` read the
victim's conversation (issue 13).  Callers now encode every path segment with
``urllib.parse.quote(id, safe="")`` (handoff/core/rasa_client.py), and this request middleware decodes
the ``conversation_id`` route parameter, so ``/``, ``?``, ``#``, ``%``, spaces and non-ASCII
round-trip exactly.  An id that does not decode to text (invalid UTF-8 after decoding) is a 400.
"""

from typing import Final
from urllib.parse import unquote

from sanic import Sanic
from sanic.exceptions import SanicException
from sanic.request import Request

PARAMETER: Final = "conversation_id"
_INSTALLED: Final = "attune_conversation_ids_decoded"


class UndecodableConversationId(SanicException):
    status_code = 400
    quiet = True


async def decode_conversation_id(request: Request) -> None:
    """Request middleware: the route's ``conversation_id`` parameter, percent-decoded."""
    encoded = request.match_info.get(PARAMETER)
    if not isinstance(encoded, str) or "%" not in encoded:
        return
    try:
        request.match_info[PARAMETER] = unquote(encoded, errors="strict")
    except UnicodeDecodeError:
        raise UndecodableConversationId(
            f"the conversation id in the path is not percent-encoded UTF-8: {encoded[:80]!r}"
        ) from None


def install(app: Sanic) -> None:
    """Adds the middleware to ``app`` once, however many channels ask."""
    if getattr(app.ctx, _INSTALLED, False):
        return
    setattr(app.ctx, _INSTALLED, True)
    app.register_middleware(decode_conversation_id, "request")
