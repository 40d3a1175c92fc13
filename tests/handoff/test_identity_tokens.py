"""Identity tokens and session ids: only what the right key signed, and only while it is current."""

import time

import jwt
import pytest

from handoff.shared.identity_tokens import (
    MAX_TOKEN_LIFETIME,
    VerifiedCustomer,
    WeakKey,
    check_key,
    issue_session_id,
    sign_identity_token,
    verified_session,
    verify_identity_token,
)

KEY = "k" * 40
OTHER = "o" * 40


def test_a_token_signed_with_the_key_names_the_customer_and_their_verified_contacts() -> None:
    token = sign_identity_token("C-9001", KEY, phone="+447700900123", email="dana@example.com")

    found = verify_identity_token(token, KEY)

    assert found == VerifiedCustomer("C-9001", "+447700900123", "dana@example.com")
    assert found.identities() == [
        {"kind": "id", "value": "C-9001"},
        {"kind": "phone", "value": "+447700900123"},
        {"kind": "email", "value": "dana@example.com"},
    ]
    assert verify_identity_token("Bearer " + token, KEY) == found


def claims(**override: object) -> dict[str, object]:
    now = int(time.time())
    return {"sub": "C-9001", "aud": "attune", "iat": now, "exp": now + 600, **override}


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        42,
        "not.a.jwt",
        "x" * 5000,
        sign_identity_token("C-9001", OTHER),
        jwt.encode(claims(), None, algorithm="none"),  # unsigned
        jwt.encode(claims(), KEY, algorithm="HS512"),  # another algorithm
        jwt.encode(claims(aud="someone-else"), KEY, algorithm="HS256"),
        jwt.encode(claims(exp=int(time.time()) - 3600), KEY, algorithm="HS256"),  # expired
        jwt.encode(claims(exp=int(time.time()) + MAX_TOKEN_LIFETIME + 600), KEY, algorithm="HS256"),
        jwt.encode(claims(iat=int(time.time()) + 3600, exp=int(time.time()) + 4000), KEY, algorithm="HS256"),
        jwt.encode({k: v for k, v in claims().items() if k != "exp"}, KEY, algorithm="HS256"),
        jwt.encode(claims(sub=""), KEY, algorithm="HS256"),
        jwt.encode(claims(sub="C-\x00"), KEY, algorithm="HS256"),
        jwt.encode(claims(sub=["C-1", "C-2"]), KEY, algorithm="HS256"),
    ],
    ids=[
        "none",
        "empty",
        "number",
        "garbage",
        "huge",
        "other-key",
        "alg-none",
        "hs512",
        "audience",
        "expired",
        "too-long-lived",
        "issued-in-future",
        "no-exp",
        "empty-sub",
        "nul-sub",
        "list-sub",
    ],
)
def test_anything_but_a_valid_current_token_leaves_the_customer_anonymous(token: object) -> None:
    assert verify_identity_token(token, KEY) is None


def test_without_a_key_nobody_is_verified() -> None:
    assert verify_identity_token(sign_identity_token("C-9001", KEY), "") is None


def test_a_claim_that_is_not_clean_text_is_dropped_but_the_customer_kept() -> None:
    token = jwt.encode(claims(phone="+44\x00", email=7), KEY, algorithm="HS256")

    assert verify_identity_token(token, KEY) == VerifiedCustomer("C-9001")


def test_keys_shorter_than_256_bits_are_refused_by_name() -> None:
    with pytest.raises(WeakKey, match="ATTUNE_SESSION_KEY must be at least 32"):
        check_key("ATTUNE_SESSION_KEY", "short", required=True)
    assert check_key("ATTUNE_IDENTITY_KEY", "", required=False) == ""
    assert check_key("ATTUNE_IDENTITY_KEY", KEY, required=False) == KEY


def test_a_session_id_is_accepted_back_only_as_issued_with_the_same_key() -> None:
    signed = issue_session_id(KEY)
    session, _, signature = signed.partition(".")

    assert verified_session(signed, KEY) == session
    assert verified_session(signed, OTHER) is None
    assert verified_session(session, KEY) is None
    assert verified_session(session + "." + "A" * len(signature), KEY) is None
    assert verified_session(("0" * len(session)) + "." + signature, KEY) is None
    assert verified_session(signed.upper(), KEY) is None
    assert verified_session(None, KEY) is None
    assert issue_session_id(KEY) != signed
