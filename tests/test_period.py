"""Digest periods: ISO weeks in the digest's timezone, rolling windows, labels, errors."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from flows.delivery.period import PeriodError, choose, iso_week, last_complete_week, rolling

LONDON = ZoneInfo("Europe/London")


def test_default_is_the_last_complete_iso_week_in_london() -> None:
    now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)  # a Tuesday
    p = choose("Europe/London", now=now)
    assert p.key == "2026-W47"
    assert p.start == datetime(2026, 11, 16, tzinfo=LONDON)
    assert p.end == datetime(2026, 11, 23, tzinfo=LONDON)
    assert p.label == "16–22 Nov 2026"


def test_sunday_night_utc_is_already_monday_in_a_later_timezone() -> None:
    now = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)  # Sunday in London, Monday in Warsaw
    assert last_complete_week(now, "Europe/London").key == "2026-W46"
    assert last_complete_week(now, "Europe/Warsaw").key == "2026-W47"


def test_week_across_the_clock_change_is_seven_calendar_days() -> None:
    p = iso_week("2026-W13", "Europe/London")  # clocks go forward on 29 March 2026
    assert p.start.date() == date(2026, 3, 23) and p.end.date() == date(2026, 3, 30)
    assert (p.end.astimezone(UTC) - p.start.astimezone(UTC)).total_seconds() == 7 * 86400 - 3600


def test_labels_across_months_and_years() -> None:
    assert iso_week("2026-W49").label == "30 Nov – 6 Dec 2026"
    assert iso_week("2026-W53").label == "28 Dec 2026 – 3 Jan 2027"


def test_rolling_window_and_previous_period() -> None:
    p = rolling(date(2026, 11, 24), 7)
    assert p.key == "2026-11-18_2026-11-24"
    assert p.start == datetime(2026, 11, 18, tzinfo=LONDON)
    assert p.end == datetime(2026, 11, 25, tzinfo=LONDON)
    assert p.previous().key == "2026-11-11_2026-11-17"
    assert iso_week("2026-W01").previous().key == "2025-W52"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"week": "2026-47"}, "expected YYYY-Www"),
        ({"week": "2026-W54"}, "no such ISO week"),
        ({"until": "24/11/2026"}, "expected a date"),
        ({"days": 0}, "expected 1 to 366"),
        ({"week": "2026-W47", "days": 3}, "not both"),
    ],
)
def test_bad_periods_are_explained(options: dict[str, object], message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        choose("Europe/London", now=datetime(2026, 11, 24, tzinfo=UTC), **options)  # type: ignore[arg-type]


def test_unknown_timezone() -> None:
    with pytest.raises(PeriodError, match="IANA"):
        iso_week("2026-W47", "Mars/Olympus")


def test_a_rolling_window_that_is_an_iso_week_is_that_week() -> None:
    # `digest --until <Sunday> --days 7` must not mail a second copy of the week `run` sent.
    assert rolling(date(2026, 11, 22), 7) == iso_week("2026-W47")
    later = datetime(2026, 12, 1, tzinfo=UTC)
    assert choose("Europe/London", now=later, until="2026-11-22", days=7).key == "2026-W47"
    assert rolling(date(2026, 11, 23), 7).key == "2026-11-17_2026-11-23"
    assert rolling(date(2026, 11, 22), 6).key == "2026-11-17_2026-11-22"


def test_the_trend_weeks_end_with_the_periods_week() -> None:
    from flows.delivery.period import weeks_to

    weeks = weeks_to(iso_week("2026-W02"))
    assert [w.key for w in weeks][:2] == ["2025-W43", "2025-W44"] and weeks[-1].key == "2026-W02"
    assert len(weeks) == 12 and all(a.end == b.start for a, b in itertools.pairwise(weeks))
    # `run`'s rolling week: the bars are that window and the seven-day windows before it
    assert [w.key for w in weeks_to(rolling(date(2026, 11, 25), 7), 2)] == [
        "2026-11-12_2026-11-18",
        "2026-11-19_2026-11-25",
    ]
    # any other length: the ISO weeks up to the one holding its last day
    assert weeks_to(rolling(date(2026, 11, 25), 30), 3)[-1].key == "2026-W48"
