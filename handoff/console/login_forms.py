"""The login form's CSRF token, bound to a pre-session the server issued.

The login page sets a pre-session cookie (``<issued unix time>.<random>``) and puts
``HMAC(key, pre-session)`` in the form.  A login is accepted only when the form's token is that
HMAC of the cookie sent with it, and the pre-session is at most ``LIFETIME`` old.  A plain
double-submit (cookie == form field) accepts any value an attacker manages to plant in both (a
cookie tossed from a sibling subdomain or over plain http); here the attacker would need the key.

The key is derived from ATTUNE_SESSION_KEY, which every instance shares, so a form served by one
instance logs in at another; without it (built in code) each app has a random key of its own.
"""

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta

LIFETIME = timedelta(hours=1)
_PURPOSE = b"attune console login form v1|"


def form_key(session_key: str) -> bytes:
    """The HMAC key of login forms: derived from the shared session key, or random per app."""
    if not session_key:
        return secrets.token_bytes(32)
    return hashlib.sha256(_PURPOSE + session_key.encode()).digest()


def new_presession(now: float) -> str:
    return f"{int(now)}.{secrets.token_urlsafe(24)}"


def form_token(key: bytes, presession: str) -> str:
    digest = hmac.new(key, presession.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def is_valid(key: bytes, presession: str, token: str, now: float) -> bool:
    """Whether ``token`` is the form token of ``presession``, issued by this service within LIFETIME."""
    issued, _, nonce = presession.partition(".")
    if not issued.isdigit() or len(issued) > 12 or not nonce:
        return False
    if not 0 <= now - int(issued) <= LIFETIME.total_seconds():
        return False
    return hmac.compare_digest(form_token(key, presession).encode(), token.encode())
