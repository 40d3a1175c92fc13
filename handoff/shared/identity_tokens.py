"""Who a customer is, proven: a site's signed identity token, and the web chat's server-issued session ids.

Shared by the Rasa server's channels (which verify both) and the handoff service (which verifies a
session for the web chat's emotion switch, and signs a demo token for the tour).  Nothing here
trusts what a client asserts:

- **Identity token** (``ATTUNE_IDENTITY_KEY``): a logged-in site signs, on its own server, a JWT
  (HS256) with the customer's id in ``sub``, optionally their verified ``phone`` and ``email``,
  audience ``attune`` and an expiry ``exp`` at most ``MAX_TOKEN_LIFETIME`` after ``iat``.  A
  token that is missing, unsigned (``alg: none``), signed with another key or algorithm, expired,
  for another audience or malformed is ignored: the customer is anonymous.  Never an error, so a
  site with a stale token still gets answers.
- **Session id** (``ATTUNE_SESSION_KEY``, the server's own secret): ``<32 hex>.<signature>``.  The
  Rasa server issues one to each new web chat; only a session id whose HMAC holds is accepted
  back, so a client cannot name somebody else's conversation.
"""

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final

import jwt

AUDIENCE: Final = "attune"
ALGORITHM: Final = "HS256"
# A site refreshes the token with each page; a day covers a long chat, and bounds a leaked token.
MAX_TOKEN_LIFETIME: Final = 24 * 3600
MAX_TOKEN_CHARS: Final = 4096
CLOCK_LEEWAY_SECONDS: Final = 30
# HS256 keys shorter than the hash are brute-forceable; RFC 7518 §3.2 asks for at least 256 bits.
MIN_KEY_CHARS: Final = 32
MAX_CLAIM_CHARS: Final = 254

SESSION_RANDOM_HEX: Final = 32
SESSION_SIGNATURE_CHARS: Final = 22  # 128 bits of HMAC-SHA256, base64url


class WeakKey(ValueError):
    """A configured key is too short to be safe; the message names the variable."""


def check_key(name: str, key: str, required: bool) -> str:
    """``key`` when usable; empty only when not ``required`` (the feature is then off)."""
    if not key and not required:
        return ""
    if len(key) < MIN_KEY_CHARS:
        raise WeakKey(f"{name} must be at least {MIN_KEY_CHARS} characters (got {len(key)})")
    return key


@dataclass(frozen=True)
class VerifiedCustomer:
    """The claims of a valid identity token: who the site says the customer is, signed."""

    customer_id: str
    phone: str | None = None
    email: str | None = None

    def identities(self) -> list[dict[str, str]]:
        """As handoff/privacy/customers.py links them: ``[{"kind": "id", "value": ...}, ...]``."""
        found = [{"kind": "id", "value": self.customer_id}]
        found += [{"kind": "phone", "value": self.phone}] if self.phone else []
        found += [{"kind": "email", "value": self.email}] if self.email else []
        return found

    def to_dict(self) -> dict[str, str]:
        claims = {"id": self.customer_id, "phone": self.phone, "email": self.email}
        return {key: value for key, value in claims.items() if value}


def _claim(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_CLAIM_CHARS:
        return None
    if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 or 0xD800 <= ord(c) < 0xE000 for c in value):
        return None
    return value.strip()


def verify_identity_token(token: object, key: str, now: float | None = None) -> VerifiedCustomer | None:
    """The verified customer, or None (anonymous) for anything but a valid, current token."""
    if not key or not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_CHARS:
        return None
    try:
        claims = jwt.decode(
            token.removeprefix("Bearer ").strip(),
            key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            leeway=CLOCK_LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "sub", "aud"], "verify_iat": False},
        )
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    moment = time.time() if now is None else now
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        return None
    if exp - iat > MAX_TOKEN_LIFETIME or iat > moment + CLOCK_LEEWAY_SECONDS:
        return None
    if now is not None and exp < moment - CLOCK_LEEWAY_SECONDS:  # PyJWT checks against the real clock
        return None
    customer_id = _claim(claims, "sub")
    if customer_id is None:
        return None
    return VerifiedCustomer(customer_id, _claim(claims, "phone"), _claim(claims, "email"))


def sign_identity_token(
    customer_id: str,
    key: str,
    *,
    phone: str | None = None,
    email: str | None = None,
    lifetime: int = 3600,
    now: float | None = None,
) -> str:
    """What a site's server does (the demo and tests use it): a token for ``customer_id``."""
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": customer_id, "aud": AUDIENCE, "iat": issued, "exp": issued + lifetime}
    claims.update({name: value for name, value in (("phone", phone), ("email", email)) if value})
    return jwt.encode(claims, key, algorithm=ALGORITHM)


def _session_signature(session: str, key: str) -> str:
    digest = hmac.new(key.encode(), b"attune-session:" + session.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:SESSION_SIGNATURE_CHARS]


def issue_session_id(key: str) -> str:
    """A new web chat's signed session id: ``<32 hex>.<signature>``."""
    session = secrets.token_hex(SESSION_RANDOM_HEX // 2)
    return f"{session}.{_session_signature(session, key)}"


def verified_session(signed: object, key: str) -> str | None:
    """The session part of a signed session id the server issued, or None for anything else."""
    if (
        not key
        or not isinstance(signed, str)
        or len(signed) != SESSION_RANDOM_HEX + 1 + SESSION_SIGNATURE_CHARS
    ):
        return None
    session, _, signature = signed.partition(".")
    if len(session) != SESSION_RANDOM_HEX or any(c not in "0123456789abcdef" for c in session):
        return None
    return session if hmac.compare_digest(signature, _session_signature(session, key)) else None
