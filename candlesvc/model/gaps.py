"""Which bars are missing between two stored bars, on the broker's clock.

MT5 opens a bar at every step of its timeframe on the broker's wall clock: intraday bars
at multiples of the step since midnight, D1 at midnight, W1 on Sunday at midnight, MN1 on
the first of the month. A wall time that a DST change skips opens no bar, and neither, with
the weekend closed, does any time from Saturday 00:00 to Monday 00:00 on that clock (with
NY+7, the FX market's week: Friday 17:00 to Sunday 17:00 in New York).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from candlesvc.model.timezones import SourceZone, wall_to_utc

DAY = timedelta(days=1)
STEPS = {
    "M1": 1, "M2": 2, "M3": 3, "M4": 4, "M5": 5, "M6": 6, "M10": 10, "M12": 12, "M15": 15,
    "M20": 20, "M30": 30, "H1": 60, "H2": 120, "H3": 180, "H4": 240, "H6": 360, "H8": 480,
    "H12": 720, "D1": 1440,
}  # fmt: skip
SATURDAY, SUNDAY = 5, 6


@dataclass(frozen=True)
class Gap:
    """Bars missing between two stored bars: how many, and the first and last of them."""

    after: datetime  # the stored bar before
    before: datetime  # the stored bar after
    first: datetime  # the first missing bar's time (UTC)
    last: datetime  # the last missing bar's time (UTC)
    missing: int


def shortest(timeframe: str) -> timedelta:
    """The least time between two consecutive bars (a DST change can add to it, never take)."""
    if timeframe == "W1":
        return timedelta(days=7)
    if timeframe == "MN1":
        return timedelta(days=28)
    return timedelta(minutes=STEPS[timeframe])


def gap(
    after: datetime, before: datetime, timeframe: str, zone: SourceZone, weekend: bool
) -> Gap | None:
    """The bars missing strictly between two stored bars (UTC instants), or None."""
    start, end = zone.wall_clock(after), zone.wall_clock(before)
    if timeframe in ("W1", "MN1"):
        found = _instants(zone, _calendar(start, end, timeframe))
    else:
        step = timedelta(minutes=STEPS[timeframe])
        days = (start.date() + n * DAY for n in range((end.date() - start.date()).days + 1))
        found = _join(
            _in_day(zone, day, start, end, step)
            for day in days
            if not (weekend and day.weekday() in (SATURDAY, SUNDAY))
        )
    count, first, last = found
    return Gap(after, before, first, last, count) if first and last else None


Found = tuple[int, datetime | None, datetime | None]  # how many, the first and the last


def _in_day(zone: SourceZone, day: date, start: datetime, end: datetime, step: timedelta) -> Found:
    """The bars that open on `day`'s wall clock strictly between start and end."""
    midnight = datetime.combine(day, time())
    low, high = max(midnight, start), min(midnight + DAY, end)
    first = midnight + -((midnight - low) // step) * step  # the first opening at or after low
    if first == start:
        first += step
    count = -((first - high) // step)  # openings from first up to, not at, high
    if count <= 0:
        return 0, None, None
    if not _uniform(zone, midnight):  # a DST change this day: each opening on its own
        return _instants(zone, (first + n * step for n in range(count)))
    last = first + (count - 1) * step
    return count, wall_to_utc(zone, first)[0], wall_to_utc(zone, last)[0]


def _uniform(zone: SourceZone, midnight: datetime) -> bool:
    """Whether the day starting at this wall midnight has one UTC offset throughout."""
    try:
        start, repeat = wall_to_utc(zone, midnight)
        end, repeat_at_end = wall_to_utc(zone, midnight + DAY)
    except ValueError:
        return False
    return not repeat and not repeat_at_end and end - start == DAY


def _instants(zone: SourceZone, walls: Iterator[datetime]) -> Found:
    """The wall times that exist (a DST change skips some), as UTC instants: counted, ends."""
    count, first, last = 0, None, None
    for wall in walls:
        try:
            instant = wall_to_utc(zone, wall)[0]
        except ValueError:  # skipped by a DST change: no bar opens then
            continue
        count, first, last = count + 1, first or instant, instant
    return count, first, last


def _join(parts: Iterator[Found]) -> Found:
    """Days' findings in time order, as one."""
    count, first, last = 0, None, None
    for n, a, b in parts:
        if n:
            count, first, last = count + n, first or a, b
    return count, first, last


def _calendar(start: datetime, end: datetime, timeframe: str) -> Iterator[datetime]:
    """The W1 (Sunday) or MN1 (first of month) opening wall times strictly between."""
    if timeframe == "MN1":
        yield from _months(start, end)
        return
    sunday = datetime.combine(start.date() - timedelta(days=(start.weekday() + 1) % 7), time())
    while sunday < end:
        if sunday > start:
            yield sunday
        sunday += timedelta(days=7)


def _months(start: datetime, end: datetime) -> Iterator[datetime]:
    """The firsts of the months strictly between start and end, at midnight."""
    month = date(start.year, start.month, 1)
    while True:
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        wall = datetime.combine(month, time())
        if wall >= end:
            return
        yield wall
