"""Digest periods, pure: ISO weeks and rolling windows in the digest's timezone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from warehouse.errors import ConfigError

DEFAULT_TIMEZONE = "Europe/London"
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class PeriodError(ConfigError, ValueError):
    """A period given on the command line cannot be understood."""


@dataclass(frozen=True)
class Period:
    """[start, end) in a timezone, with the key that names it in the outbox and in reports/."""

    key: str  # "2026-W47", or "2026-11-18_2026-11-24" for a rolling window
    start: datetime
    end: datetime
    timezone: str

    @property
    def label(self) -> str:
        """'16–22 Nov 2026', '30 Nov – 6 Dec 2026', '29 Dec 2025 – 4 Jan 2026'."""
        first, last = self.start.date(), (self.end - timedelta(microseconds=1)).date()
        if first.year != last.year:
            return f"{first:%-d %b %Y} – {last:%-d %b %Y}"
        if first.month != last.month:
            return f"{first:%-d %b} – {last:%-d %b %Y}"
        if first == last:
            return f"{first:%-d %b %Y}"
        return f"{first:%-d}–{last:%-d %b %Y}"

    def previous(self) -> Period:
        """The period of the same length just before, for 'change from last week'."""
        length = self.end - self.start
        if self.key.count("-W") == 1:
            monday = (self.start - timedelta(days=7)).date()
            return iso_week(f"{monday:%G-W%V}", self.timezone)
        return _window(self.start - length, self.start, self.timezone)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise PeriodError(
            f"unknown timezone {name!r}; fix: use an IANA name such as Europe/London"
        ) from None


def iso_week(key: str, timezone: str = DEFAULT_TIMEZONE) -> Period:
    """'2026-W47' → Monday 00:00 to the next Monday 00:00, local time."""
    found = _WEEK.match(key)
    if not found:
        raise PeriodError(f"--week {key!r}: expected YYYY-Www, e.g. 2026-W47")
    try:
        monday = date.fromisocalendar(int(found[1]), int(found[2]), 1)
    except ValueError:
        raise PeriodError(f"--week {key!r}: no such ISO week") from None
    tz = zone(timezone)
    start = datetime.combine(monday, time(), tz)
    end = datetime.combine(monday + timedelta(days=7), time(), tz)
    return Period(key=key, start=start, end=end, timezone=timezone)


def last_complete_week(now: datetime, timezone: str = DEFAULT_TIMEZONE) -> Period:
    """The last ISO week (Monday to Sunday) that has ended by `now`, in the timezone."""
    local = now.astimezone(zone(timezone)).date()
    this_monday = local - timedelta(days=local.weekday())
    monday = this_monday - timedelta(days=7)
    return iso_week(f"{monday:%G-W%V}", timezone)


def weeks_to(period: Period, count: int = 12) -> list[Period]:
    """`count` weeks ending with the period, oldest first, for the trend chart.

    A seven-day period (an ISO week, or `run`'s rolling week) and the ones before it, so the
    last bar is the digest's own count; any other length: the ISO weeks up to its last day.
    """
    if period.end - period.start == timedelta(days=7):
        weeks = [period]
        while len(weeks) < count:
            weeks.append(weeks[-1].previous())
        return weeks[::-1]
    last = (period.end - timedelta(microseconds=1)).astimezone(zone(period.timezone)).date()
    monday = last - timedelta(days=last.weekday())
    return [
        iso_week(f"{monday - timedelta(weeks=n):%G-W%V}", period.timezone)
        for n in range(count - 1, -1, -1)
    ]


def rolling(until: date, days: int, timezone: str = DEFAULT_TIMEZONE) -> Period:
    """`days` whole days ending with the day `until` (included); Monday to Sunday is the week."""
    if not 1 <= days <= 366:
        raise PeriodError(f"--days {days}: expected 1 to 366")
    if days == 7 and until.weekday() == 6:
        # The same days as an ISO week get its key, so the outbox knows the digest was sent.
        return iso_week(f"{until:%G-W%V}", timezone)
    tz = zone(timezone)
    end = datetime.combine(until + timedelta(days=1), time(), tz)
    start = datetime.combine(until - timedelta(days=days - 1), time(), tz)
    return _window(start, end, timezone)


def ending_now(now: datetime, days: int = 7, timezone: str = DEFAULT_TIMEZONE) -> Period:
    """The `days` days up to `now` (for `newswatch run`), keyed by their dates."""
    end = now.astimezone(zone(timezone))
    return _window(end - timedelta(days=days), end, timezone)


def parse_until(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"--until {text!r}: expected a date, YYYY-MM-DD") from None


def choose(
    timezone: str,
    *,
    now: datetime,
    week: str | None = None,
    until: str | None = None,
    days: int | None = None,
    recent: bool = False,
) -> Period:
    """--week, --until/--days, the 7 days ending now (`run`), or by default the last full week."""
    if week and (until or days):
        raise PeriodError("give either --week or --until/--days, not both")
    if week:
        return iso_week(week, timezone)
    if until is not None or days is not None:
        end = parse_until(until) if until else now.astimezone(zone(timezone)).date()
        return rolling(end, 7 if days is None else days, timezone)
    if recent:
        return ending_now(now, 7, timezone)
    return last_complete_week(now, timezone)


def _window(start: datetime, end: datetime, timezone: str) -> Period:
    last = (end - timedelta(microseconds=1)).date()
    return Period(
        key=f"{start.date():%Y-%m-%d}_{last:%Y-%m-%d}", start=start, end=end, timezone=timezone
    )
