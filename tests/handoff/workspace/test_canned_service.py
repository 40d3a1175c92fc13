"""Canned responses without HTTP: checks on save, search, and slots filled from a handoff."""

import pytest

from handoff.shared.errors import InvalidRequest
from handoff.workspace import canned
from handoff.workspace.canned import Canned

ORDER = Canned(
    1, "order", "Order found", "Hi {first_name}, order {order_number} is on its way. {first_name}!"
)


def test_slots_are_filled_from_the_handoffs_slots_and_a_missing_one_stays_visible() -> None:
    values = canned.slot_values({"slots": {"order_id": "55556", "topic": "order_status"}})

    filled = canned.fill(ORDER, values)

    assert filled.text == "Hi {first_name}, order 55556 is on its way. {first_name}!"
    assert filled.missing == ("first_name",)


@pytest.mark.parametrize(
    "slots",
    [
        None,
        "not a mapping",
        {"order_id": None, "first_name": True},
        {"order_id": {"nested": 1}, "first_name": ["Ada"]},
        {"order_id": "x" * 101, "first_name": "Ada\u202eevil"},
        {"order_id": "  ", "first_name": "line\nbreak"},
    ],
)
def test_hostile_slot_values_are_not_used(slots: object) -> None:
    assert canned.fill(ORDER, canned.slot_values({"slots": slots})).missing == ("first_name", "order_number")


def test_a_number_and_a_name_fill_both_slots() -> None:
    values = canned.slot_values({"slots": {"order_number": 55556, "first_name": "Dana"}})

    assert canned.fill(ORDER, values).text == "Hi Dana, order 55556 is on its way. Dana!"


@pytest.mark.parametrize(
    ("shortcut", "title", "body", "reason"),
    [
        ("ok", "Title", "Hello {firstname}", "unknown slot {firstname}"),
        ("ok", "Title", "Hello {{order_number}}", None),  # a doubled brace is the slot inside braces
        ("Bad Shortcut", "Title", "Hello", "shortcut"),
        ("ok", "", "Hello", "the title is empty"),
        ("ok", "Title", "x" * 2001, "at most 2000"),
        ("ok", "Title", "bell \x07", "control"),
        ("ok", "Title\u202e", "Hello", "control"),
    ],
)
def test_a_bad_response_is_refused_before_it_is_stored(
    shortcut: str, title: str, body: str, reason: str | None
) -> None:
    if reason is None:
        assert canned._checked(shortcut, title, body)[2] == body
        return
    with pytest.raises(InvalidRequest, match=reason.replace("{", r"\{").replace("}", r"\}")):
        canned._checked(shortcut, title, body)
