"""Reading a failed self-service attempt from the bot's own words, when outcomes are not recorded.

Live, the action server knows when a lookup failed.  In a transcript (the eval files, or a
conversation imported from another system) only the text remains; a bot reply that apologises,
reports nothing found or asks the customer to repeat is the best available stand-in.  The
explanation names this source, so nobody mistakes it for a recorded outcome.
"""

import re

_FAILURE_REPLY = re.compile(
    r"\b(sorry|unfortunately|apolog\w*|i('m| am) (afraid|unable|not able)|"
    r"(can ?not|can'?t|couldn'?t|unable to) "
    r"(find|locate|book|help|do|process|complete|see)|no (results?|matches|availability|record)|"
    r"(nothing|none) (available|found|matching)|not available|didn'?t (understand|get that|catch)|"
    r"could you (rephrase|repeat|say that again)|please try again|fully booked|there (are|is) no)\b",
    re.IGNORECASE,
)


def bot_reply_failed(text: str) -> bool:
    """True when a bot reply reads as a failed attempt (nothing found, apology, "please rephrase")."""
    return bool(_FAILURE_REPLY.search(text[:2000]))
