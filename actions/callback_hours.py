"""When a call-back may ring: business hours, the customer's quiet hours, and the windows to offer.

Pure (stdlib + phonenumbers): policy/business_hours.yml in, a list of ``Option``s out.  "Now" is offered
only when the team is open and it is not quiet hours where the customer is (their time zone comes
from their phone number); the later windows each fit wholly inside both.  Times shown to the
customer are in their own time zone.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml
from phonenumbers import timezone as phone_timezones

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
STEP = timedelta(minutes=30)  # windows start on the hour or the half hour
CHECK = timedelta(minutes=15)  # a window is checked at this resolution
LOOKAHEAD_DAYS = 8
NOW_WORDS = ("now", "asap", "right away", "straight away", "immediately", "as soon as")


class CallbackHoursError(ValueError):
    """policy/business_hours.yml is malformed; the message names the key."""


@dataclass(frozen=True)
class CallbackHours:
    timezone: ZoneInfo
    business: tuple[tuple[time, time] | None, ...]  # Monday .. Sunday
    quiet: tuple[time, time] | None  # None: no quiet hours
    window: timedelta
    windows_offered: int
    default_region: str

    def team_open(self, moment: datetime) -> bool:
        local = moment.astimezone(self.timezone)
        hours = self.business[local.weekday()]
        return hours is not None and hours[0] <= local.time() < hours[1]

    def quiet_for(self, moment: datetime, customer: ZoneInfo) -> bool:
        if self.quiet is None:
            return False
        now = moment.astimezone(customer).time()
        start, end = self.quiet
        return start <= now or now < end if start > end else start <= now < end

    def allowed(self, moment: datetime, customer: ZoneInfo) -> bool:
        return self.team_open(moment) and not self.quiet_for(moment, customer)


@dataclass(frozen=True)
class Option:
    """One choice offered to the customer; ``start`` None means now."""

    label: str  # the button: "Today 16:00-18:00 GMT"
    start: datetime | None
    end: datetime | None
    when: str = "in the next few minutes"  # in a sentence: "today between 16:00 and 18:00 GMT"

    def as_slot(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "when": self.when,
        }

    @classmethod
    def from_slot(cls, value: dict[str, Any]) -> "Option":
        def instant(text: Any) -> datetime | None:
            return datetime.fromisoformat(str(text)) if text else None

        return cls(
            str(value["label"]),
            instant(value.get("start")),
            instant(value.get("end")),
            str(value.get("when") or cls.when),
        )


def _span(key: str, raw: Any) -> tuple[time, time]:
    match = SPAN.match(str(raw).strip()) if raw is not None else None
    if match is None:
        raise CallbackHoursError(f'{key} must look like "09:00-17:00", got {raw!r}')
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return time(h1, m1), (time(23, 59, 59) if h2 == 24 else time(h2, m2))


def parse_hours(document: Any) -> CallbackHours:
    if not isinstance(document, dict):
        raise CallbackHoursError("the file must be a mapping of keys to values")
    try:
        zone = ZoneInfo(str(document.get("timezone", "")))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise CallbackHoursError(f"timezone must be an IANA name such as Europe/London: {error}") from error
    raw_days = document.get("business_hours")
    if not isinstance(raw_days, dict) or set(raw_days) - set(DAYS):
        raise CallbackHoursError(f"business_hours must map days ({', '.join(DAYS)}) to hours or null")
    business = tuple(
        None if raw_days.get(day) is None else _span(f"business_hours.{day}", raw_days[day]) for day in DAYS
    )
    quiet = None if document.get("quiet_hours") is None else _span("quiet_hours", document["quiet_hours"])
    minutes, offered = document.get("window_minutes"), document.get("windows_offered")
    if not isinstance(minutes, int) or not 15 <= minutes <= 480:
        raise CallbackHoursError(f"window_minutes must be a whole number from 15 to 480, got {minutes!r}")
    if not isinstance(offered, int) or not 0 <= offered <= 5:
        raise CallbackHoursError(f"windows_offered must be a whole number from 0 to 5, got {offered!r}")
    region = str(document.get("default_region", ""))
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise CallbackHoursError(f"default_region must be a country code such as GB, got {region!r}")
    return CallbackHours(zone, business, quiet, timedelta(minutes=minutes), offered, region)


def load_hours(path: str | Path) -> CallbackHours:
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CallbackHoursError(f"cannot read {path}: {error}") from error
    try:
        return parse_hours(document)
    except CallbackHoursError as error:
        raise CallbackHoursError(f"{path}: {error}") from error


def customer_zone(number: str, fallback: ZoneInfo) -> ZoneInfo:
    """The customer's time zone from their number, when the number has exactly one; else ``fallback``."""
    try:
        zones = phone_timezones.time_zones_for_number(phonenumbers.parse(number))
    except phonenumbers.NumberParseException:
        return fallback
    if len(zones) == 1 and zones[0] != "Etc/Unknown":
        try:
            return ZoneInfo(zones[0])
        except ZoneInfoNotFoundError:
            return fallback
    return fallback


def _fits(hours: CallbackHours, start: datetime, customer: ZoneInfo) -> bool:
    moment = start
    while moment < start + hours.window:
        if not hours.allowed(moment, customer):
            return False
        moment += CHECK
    return hours.allowed(start + hours.window - timedelta(minutes=1), customer)


def _day_word(day: date, today: date) -> str:
    if day == today:
        return "today"
    if day == today + timedelta(days=1):
        return "tomorrow"
    return DAYS[day.weekday()].capitalize()


def _window(start: datetime, end: datetime, customer: ZoneInfo, now: datetime) -> Option:
    """The window as a button ("Today 16:00-18:00 GMT") and in a sentence, in the customer's time zone."""
    local_start, local_end = start.astimezone(customer), end.astimezone(customer)
    day = _day_word(local_start.date(), now.astimezone(customer).date())
    zone = f"{local_end:%Z}"
    return Option(
        f"{day[0].upper()}{day[1:]} {local_start:%H:%M}-{local_end:%H:%M} {zone}",
        start,
        end,
        f"{day if day in ('today', 'tomorrow') else 'on ' + day} between {local_start:%H:%M} and "
        f"{local_end:%H:%M} {zone}",
    )


def options(hours: CallbackHours, customer: ZoneInfo, now: datetime) -> list[Option]:
    """Offers "Now" when allowed, then up to ``windows_offered`` windows, each a later day."""
    now = now.astimezone(timezone.utc)
    offered: list[Option] = []
    if hours.allowed(now, customer) and hours.allowed(now + CHECK, customer):
        offered.append(Option("Now", None, None))
    # A window is an alternative to now, not the same thing: it starts a window's length later.
    earliest = now + hours.window if offered else now
    step = STEP.total_seconds()
    start = datetime.fromtimestamp(-(-earliest.timestamp() // step) * step, timezone.utc)
    last_day: date | None = None
    while len(offered) < hours.windows_offered + (1 if offered and offered[0].start is None else 0):
        if start > now + timedelta(days=LOOKAHEAD_DAYS):
            break
        day = start.astimezone(customer).date()
        if (last_day is None or day > last_day) and _fits(hours, start, customer):
            end = start + hours.window
            offered.append(_window(start, end, customer, now))
            last_day = day
            start = end
            continue
        start += STEP
    return offered


def choose(offered: list[Option], text: str) -> Option | None:
    """The option the customer's answer names: its number, its label, "now", or its day word."""
    answer = text.strip().lower().rstrip(".! ")
    if answer.isdigit() and 1 <= int(answer) <= len(offered):
        return offered[int(answer) - 1]
    for option in offered:
        if answer == option.label.lower():
            return option
    if any(word in answer for word in NOW_WORDS):
        return next((o for o in offered if o.start is None), None)
    for option in offered:
        day_word = option.label.split()[0].lower()
        if day_word != "now" and day_word in answer:
            return option
    return None
