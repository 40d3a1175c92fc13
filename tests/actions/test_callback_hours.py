"""When call-backs may ring: business hours, the customer's quiet hours, offered windows, answers."""

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from actions.callback_hours import (
    CallbackHoursError,
    choose,
    customer_zone,
    load_hours,
    options,
    parse_hours,
)
from handoff.shared.phone_numbers import find_phone_number as phone_number

ROOT = Path(__file__).resolve().parents[2]
LONDON = ZoneInfo("Europe/London")


def shipped() -> dict:
    return dict(yaml.safe_load((ROOT / "policy" / "business_hours.yml").read_text()))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def labels(now: datetime, zone: ZoneInfo = LONDON) -> list[str]:
    return [o.label for o in options(parse_hours(shipped()), zone, now)]


def test_the_shipped_file_loads() -> None:
    assert load_hours(ROOT / "policy" / "business_hours.yml").default_region == "GB"


def test_open_hours_offer_now_then_a_later_window_and_another_day() -> None:
    assert labels(at("2026-11-25T14:00")) == ["Now", "Today 16:00-18:00 GMT", "Tomorrow 08:00-10:00 GMT"]


def test_no_now_at_night_and_nothing_on_a_closed_sunday() -> None:
    assert labels(at("2026-11-25T23:00")) == ["Tomorrow 08:00-10:00 GMT", "Friday 08:00-10:00 GMT"]
    assert labels(at("2026-11-28T18:00")) == ["Monday 08:00-10:00 GMT", "Tuesday 08:00-10:00 GMT"]


def test_quiet_hours_are_the_customers_own_and_times_are_shown_in_their_zone() -> None:
    new_york = customer_zone("+12025550123", LONDON)
    # 12:00 in London is 07:00 in New York: the team is open, but it is still quiet hours there.
    assert new_york.key == "America/New_York"
    assert labels(at("2026-11-25T12:00"), new_york) == ["Today 08:00-10:00 EST", "Tomorrow 08:00-10:00 EST"]


def test_a_number_with_several_zones_falls_back_to_the_teams() -> None:
    assert customer_zone("+61412345678", LONDON) in (LONDON, ZoneInfo("Australia/Sydney"))
    assert customer_zone("not a number", LONDON) == LONDON


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("07911 123456", "+447911123456"),
        ("call me on +44 (0)7911 123456 please", "+447911123456"),
        ("whatsapp:+447911123456", "+447911123456"),
        ("+1 202-555-0123", "+12025550123"),
        ("12345", None),
        ("my order is 10002", None),
        ("", None),
    ],
)
def test_phone_numbers_are_found_and_checked(text: str, expected: str | None) -> None:
    assert phone_number(text, "GB") == expected


def test_answers_pick_an_option_by_number_label_day_or_now() -> None:
    offered = options(parse_hours(shipped()), LONDON, at("2026-11-25T14:00"))

    assert choose(offered, "1") == offered[0] and choose(offered, "3") == offered[2]
    assert choose(offered, "Today 16:00-18:00 GMT") == offered[1]
    assert choose(offered, "right away please") == offered[0]
    assert choose(offered, "tomorrow is better") == offered[2]
    assert choose(offered, "4") is None and choose(offered, "purple") is None
    assert choose(offered[1:], "now") is None  # "now" is not on offer at night


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"business_hours": {"someday": "09:00-17:00"}}, "business_hours"),
        ({"business_hours": {"monday": "9 to 5"}}, "business_hours.monday"),
        ({"quiet_hours": "late"}, "quiet_hours"),
        ({"window_minutes": 5}, "window_minutes"),
        ({"windows_offered": 9}, "windows_offered"),
        ({"default_region": "XX"}, "default_region"),
    ],
)
def test_a_bad_setting_names_its_key(change: dict, message: str) -> None:
    with pytest.raises(CallbackHoursError, match=message):
        parse_hours({**shipped(), **change})
