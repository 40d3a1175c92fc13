"""The rules every customer channel applies to ids, text and metadata before anything is stored."""

import json
from typing import Any

import pytest

from bot.components.input_checks import (
    MAX_ID_CHARS,
    MAX_METADATA_BYTES,
    MAX_METADATA_DEPTH,
    MAX_TEXT_CHARS,
    InvalidInput,
    check_id,
    check_metadata,
    check_text,
    clean_text,
)


@pytest.mark.parametrize(
    "good",
    [
        "3f2c9a0e5b7d4c1a8e6f0b2d4c6a8e0f",
        "+447700900123",
        "whatsapp:+447700900123",
        "site:customer 42",
        "أحمد",  # Arabic letters are printable
        "e\u0301",  # a combining mark on a letter
        "x" * MAX_ID_CHARS,
    ],
)
def test_ordinary_ids_pass_unchanged(good: str) -> None:
    assert check_id(good, "sender") == good


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("x\udfff", "U+DFFF (a lone surrogate"),  # SQLite cannot encode it: Rasa 3.6 exited
        ("x\x00", "U+0000 (a control character)"),  # PostgreSQL refuses NUL: Rasa 3.6 exited
        ("x\x1b[2J", "U+001B (a control character)"),  # a terminal escape in every log line
        ("x\u202eevil", "U+202E (an invisible format character)"),  # right-to-left override
        ("x\u200b", "U+200B (an invisible format character)"),  # zero-width space
        ("x\u00a0y", "U+00A0"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("x" * (MAX_ID_CHARS + 1), f"at most {MAX_ID_CHARS} characters"),
        (None, "must be a string"),
        (42, "must be a string"),
        (["x"], "must be a string"),
    ],
)
def test_unusable_ids_are_refused_saying_why(bad: object, reason: str) -> None:
    with pytest.raises(InvalidInput, match=r"^'sender' ") as refused:
        check_id(bad, "sender")

    assert reason in str(refused.value)


def test_text_is_type_and_length_checked() -> None:
    assert check_text("", "message") == ""
    assert check_text("x" * MAX_TEXT_CHARS, "message") == "x" * MAX_TEXT_CHARS
    with pytest.raises(InvalidInput, match=f"at most {MAX_TEXT_CHARS}"):
        check_text("x" * (MAX_TEXT_CHARS + 1), "message")
    with pytest.raises(InvalidInput, match="'message' must be a string"):
        check_text({"text": "hi"}, "message")


def test_clean_text_replaces_what_nlu_and_stores_cannot_take_and_keeps_the_rest() -> None:
    assert clean_text("where is \udfffmy order\x00?") == "where is \ufffdmy order\ufffd?"
    assert clean_text("red\x1b[31m\x7f\x85") == "red\ufffd[31m\ufffd\ufffd"
    kept = "line one\nline two\r\n\ttabbed 😡 أين طلبي e\u0301 \u200f"
    assert clean_text(kept) == kept
    assert clean_text("x\udfff").encode("utf-8")  # encodable now


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth - 1):
        value = {"next": value}
    return value


def test_metadata_a_site_sends_passes() -> None:
    metadata = {"customer": {"id": "c-42", "phone": "+447700900123", "email": "a@example.com"}}

    assert check_metadata(metadata) == metadata
    assert check_metadata(None) is None
    assert check_metadata(nested(MAX_METADATA_DEPTH)) == nested(MAX_METADATA_DEPTH)


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        (3, "must be a JSON object"),
        ([{"customer": {}}], "must be a JSON object"),
        (nested(MAX_METADATA_DEPTH + 1), f"at most {MAX_METADATA_DEPTH} levels"),
        ({"list": [[[[[[[[["deep"]]]]]]]]]}, f"at most {MAX_METADATA_DEPTH} levels"),
        ({"blob": "x" * MAX_METADATA_BYTES}, f"at most {MAX_METADATA_BYTES} bytes"),
        ({"many": list(range(MAX_METADATA_BYTES))}, f"at most {MAX_METADATA_BYTES} bytes"),
        ({"customer": {"id": "c\udfff"}}, "NUL or lone surrogates"),
        ({"c\x00": 1}, "NUL or lone surrogates"),
        ({"score": float("nan")}, "NaN or Infinity"),
        ({"score": [float("inf")]}, "NaN or Infinity"),
    ],
)
def test_metadata_too_deep_too_large_or_unstorable_is_refused(metadata: object, reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        check_metadata(metadata)


def test_metadata_size_counts_utf8_bytes_of_compact_json() -> None:
    fits = {"t": "é" * ((MAX_METADATA_BYTES - len('{"t":""}')) // 2)}
    assert len(json.dumps(fits, ensure_ascii=False, separators=(",", ":")).encode()) <= MAX_METADATA_BYTES

    assert check_metadata(fits) == fits
    with pytest.raises(InvalidInput, match="bytes as JSON"):
        check_metadata({"t": fits["t"] + "éé"})
