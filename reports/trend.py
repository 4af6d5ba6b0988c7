"""Stories per week → a bar chart of table cells (email clients draw it without images). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from warehouse.records import WeekCount

BAR_MAX_PX = 56  # the tallest bar; the others in proportion
TEXT_BAR_MAX = 24  # characters, for the plain-text part


@dataclass(frozen=True)
class Bar:
    """One week's column: the count above, the bar, the day it starts below."""

    count: int
    day: str  # "16"
    month: str  # "Nov"
    height: int  # px; 0 for an empty week (drawn as a baseline)
    current: bool
    title: str  # "Week of 16 Nov 2026: 3 stories"
    text: str  # the plain-text line


@dataclass(frozen=True)
class Trend:
    bars: tuple[Bar, ...]
    caption: str
    legend: str


def trend(weeks: Sequence[WeekCount], zone: ZoneInfo) -> Trend | None:
    """The chart for the weeks, oldest first; the last one is this digest's week."""
    if not weeks:
        return None
    top = max(w.stories for w in weeks)
    bars = []
    for i, week in enumerate(weeks):
        first = _local(week.start, zone)
        current = i == len(weeks) - 1
        height = round(BAR_MAX_PX * week.stories / top) if top else 0
        if week.stories:
            height = max(height, 3)  # one story stays visible beside a tall week
        stories = "1 story" if week.stories == 1 else f"{week.stories} stories"
        length = round(TEXT_BAR_MAX * week.stories / top) if top else 0
        mark = f"  ◀ {_current(week)}" if current else ""
        bars.append(
            Bar(
                count=week.stories,
                day=str(first.day),
                month=f"{first:%b}",
                height=height,
                current=current,
                title=f"Week of {first.day} {first:%b %Y}: {stories}",
                text=(
                    f"{first.day:>2} {first:%b}  "
                    f"{('█' * max(length, 1 if week.stories else 0)):<{TEXT_BAR_MAX}} "
                    f"{week.stories:>3}{mark}"
                ),
            )
        )
    last = weeks[-1]
    average = sum(w.stories for w in weeks[:-1]) / max(len(weeks) - 1, 1)
    this = bars[-1]
    caption = f"Matched stories per week, last {len(weeks)} weeks"
    legend = (
        f"Marked: {_current(last)}, from {this.day} {this.month}: "
        f"{'1 story' if this.count == 1 else f'{this.count} stories'}; "
        f"the {len(weeks) - 1} weeks before averaged {average:.1f}."
    )
    return Trend(bars=tuple(bars), caption=caption, legend=legend)


def _current(week: WeekCount) -> str:
    return "this week so far" if week.partial else "this digest's week"


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)
