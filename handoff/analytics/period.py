"""The dashboard's period and channels, read from a query string that is hostile until checked.

``from`` and ``to`` are UTC days (YYYY-MM-DD, both included); empty means the last
``DEFAULT_DAYS`` days up to today.  A period is at most ``MAX_DAYS`` long and lies between
2000-01-01 and tomorrow, so one request never asks for years of roll-ups to be computed.
``channel`` is one of ``CHANNELS`` or empty (all).  A wrong value is InvalidRequest (400), saying why.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from handoff.shared.errors import InvalidRequest

DEFAULT_DAYS: Final = 30
MAX_DAYS: Final = 366
EARLIEST: Final = date(2000, 1, 1)
CHANNELS: Final = ("web", "rest", "sms", "whatsapp")
_DAY: Final = re.compile("[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Period:
    first: date
    last: date
    channel: str  # "" for every channel

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    def query(self) -> dict[str, str]:
        """The query string that asks for this period again (links, CSV exports)."""
        return {"from": self.first.isoformat(), "to": self.last.isoformat(), "channel": self.channel}


def _day(text: str, name: str) -> date | None:
    if not text:
        return None
    if len(text) != 10 or not _DAY.fullmatch(text):
        raise InvalidRequest(f"'{name}' must be a day written YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise InvalidRequest(f"'{name}' is not a day in the calendar") from error


def parse(query: Mapping[str, str], today: date) -> Period:
    """The period the query asks for, or InvalidRequest naming what is wrong."""
    last = _day(query.get("to", ""), "to") or today
    first = _day(query.get("from", ""), "from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise InvalidRequest("'from' must not be after 'to'")
    if first < EARLIEST or last > today + timedelta(days=1):
        raise InvalidRequest(f"the period must lie between {EARLIEST.isoformat()} and tomorrow")
    if (last - first).days + 1 > MAX_DAYS:
        raise InvalidRequest(f"a period is at most {MAX_DAYS} days")
    channel = query.get("channel", "")
    if channel and channel not in CHANNELS:
        raise InvalidRequest(f"'channel' must be one of {', '.join(CHANNELS)}, or empty for all")
    return Period(first, last, channel)
