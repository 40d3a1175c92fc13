"""Who the customer on a channel is: only what the server verified, never what the client claims.

A channel hands the bot a message's metadata through ``server_metadata``, which

- drops what a client sent under ``attune`` (the server's own key: the consent gate's answer and
  the verified identity), ``customer`` (the old, unverified "this is customer C-9001" claim: anyone
  could send it and be linked into that customer's record) and ``identity_token`` (a credential:
  it must not be stored with every message in the tracker store);
- writes the claims of a valid identity token (handoff/shared/identity_tokens.py) as
  ``attune.verified = {"id", "phone"?, "email"?}``;
- writes where the request came from as ``attune.client_address`` (REST and socket.io: the TCP
  peer, or the client a trusted proxy forwarded for; handoff/shared/client_addresses.py), which the
  action server's rate limits count by.

The consent gate (bot/components/consent_gate.py) reads ``attune.verified`` back with
``verified_of`` and builds the customer's identities from it; since every channel builds its
metadata here, a client cannot put anything there.  A token that is missing, invalid, expired or
signed with another key leaves the customer anonymous: never an error (a site with a stale token
still gets answers).

Where tokens travel: REST ``Authorization: Bearer <jwt>``; socket.io CONNECT ``auth: {"token"}``,
or ``identity_token`` in the ``customData`` or ``metadata`` object of ``session_request`` and
``user_uttered`` (what the rasa-webchat widget can send).
"""

from collections.abc import Mapping
from typing import Any, Final

from rasa.shared.exceptions import RasaException

from handoff.shared.identity_tokens import VerifiedCustomer, WeakKey, check_key, verify_identity_token

METADATA_KEY: Final = "attune"
VERIFIED_KEY: Final = "verified"
CLIENT_ADDRESS_KEY: Final = "client_address"
TOKEN_FIELD: Final = "identity_token"
# Keys of a client's metadata the server owns or must not store (see the module docstring).
DROPPED_CLIENT_KEYS: Final = (METADATA_KEY, "customer", TOKEN_FIELD)
IDENTITY_KEY_VARIABLE: Final = "ATTUNE_IDENTITY_KEY"
SESSION_KEY_VARIABLE: Final = "ATTUNE_SESSION_KEY"


class ChannelKeyError(RasaException):
    """A key in credentials.yml is missing or too short; the message names the variable to set."""


def configured_key(credentials: Mapping[str, Any] | None, field: str, variable: str, required: bool) -> str:
    """The key credentials.yml gives as ``field`` (``${variable}``), checked now: fail at start-up."""
    value = (credentials or {}).get(field)
    key = "" if value is None else str(value).strip()
    try:
        return check_key(variable, key, required)
    except WeakKey as error:
        hint = "" if key else " (it is not set: `make run` creates one in var/)"
        raise ChannelKeyError(f"{error}{hint}") from None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, if that is what it holds."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_in(*objects: object) -> str | None:
    """The ``identity_token`` of the first of ``objects`` (client metadata) that carries one."""
    for candidate in objects:
        if isinstance(candidate, dict) and isinstance(candidate.get(TOKEN_FIELD), str):
            return str(candidate[TOKEN_FIELD])
    return None


def verified_customer(tokens: list[str | None], key: str) -> VerifiedCustomer | None:
    """The customer of the first valid token among ``tokens``; None (anonymous) when there is none."""
    for token in tokens:
        verified = verify_identity_token(token, key)
        if verified is not None:
            return verified
    return None


def server_metadata(
    client: Mapping[str, Any] | None, verified: VerifiedCustomer | None, client_address: str | None = None
) -> dict[str, Any]:
    """The message metadata: the client's, less the keys it may not set, plus what the server saw."""
    metadata = {key: value for key, value in (client or {}).items() if key not in DROPPED_CLIENT_KEYS}
    attune: dict[str, Any] = {}
    if verified is not None:
        attune[VERIFIED_KEY] = verified.to_dict()
    if client_address:
        attune[CLIENT_ADDRESS_KEY] = client_address
    if attune:
        metadata[METADATA_KEY] = attune
    return metadata


def client_address_of(metadata: Mapping[str, Any] | None) -> str | None:
    """The client address ``server_metadata`` wrote into a message's metadata, if any."""
    attune = (metadata or {}).get(METADATA_KEY)
    address = attune.get(CLIENT_ADDRESS_KEY) if isinstance(attune, dict) else None
    return address if isinstance(address, str) else None


def verified_of(metadata: Mapping[str, Any] | None) -> VerifiedCustomer | None:
    """The verified customer ``server_metadata`` wrote into a message's metadata, if any."""
    attune = (metadata or {}).get(METADATA_KEY)
    claims = attune.get(VERIFIED_KEY) if isinstance(attune, dict) else None
    if not isinstance(claims, dict) or not isinstance(claims.get("id"), str):
        return None
    phone, email = claims.get("phone"), claims.get("email")
    return VerifiedCustomer(
        claims["id"], phone if isinstance(phone, str) else None, email if isinstance(email, str) else None
    )
