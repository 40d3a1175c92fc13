"""The demo store in tests: the day its orders are dated from."""

from datetime import date

TODAY = date(2026, 3, 10)
