"""Broker wall-clock dates and times in history files, made exact instants in file order."""

import re
from array import array
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import partial
from operator import add

from candlesvc.model.memo import Memo
from candlesvc.model.timezones import ClockState, InOrder, SourceZone, wall_to_utc

DAY = timedelta(days=1)
_MICROSECOND = timedelta(microseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DATE = re.compile(r"^(\d{4})[.-](\d\d)[.-](\d\d)$")
_TIME = re.compile(r"^(\d\d):(\d\d)(?::(\d\d))?$")


class WallClock:
    """Turns a file's date and time texts into instants in UTC.

    `days[text]` is the aware UTC start of a day that has one UTC offset throughout, or
    the naive wall-clock midnight of a day with a DST change, whose times go through
    `resolve`. `times[text]` is the time of day ("" means midnight, for D1/W1/MN1 files).
    A clock reading a part of a file starts from the state the part before left
    (`previous`); `depends_on_start` tells whether that state changed anything.
    """

    def __init__(self, zone: SourceZone, previous: ClockState = None) -> None:
        self.zone = zone
        self.days = Memo(partial(_start_of_day, zone))  # no bound method: no reference cycle
        self.times = _TIMES
        self._order = InOrder(zone, previous)
        self.resolved = False  # whether any time went through `resolve`
        self.depends_on_start = False

    def resolve(self, wall: datetime) -> datetime:
        """The instant of a wall time on a DST-change day, placed in file order (`InOrder`)."""
        instant, repeated = self._order.place(wall)
        if not self.resolved:
            self.resolved, self.depends_on_start = True, repeated
        return instant

    @property
    def previous(self) -> ClockState:
        """Where the file's clock stands: the last wall time resolved, and its pass."""
        return self._order.previous

    def epoch_micros(self, dates: Iterable[str], times: Iterable[str]) -> "array[int]":
        """Instants in microseconds since 1970 of dates and times on days of one UTC offset."""
        starts: Memo[str, int] = Memo(lambda text: (self.days[text] - _EPOCH) // _MICROSECOND)
        of_day = map(_MICROS_OF_DAY.__getitem__, times)
        return array("q", map(add, map(starts.__getitem__, dates), of_day))


def _start_of_day(zone: SourceZone, text: str) -> datetime:
    """The day's UTC start when its offset never changes; its wall midnight otherwise."""
    midnight = _date(text)
    try:
        start, repeat = wall_to_utc(zone, midnight)
        end, repeat_at_end = wall_to_utc(zone, midnight + DAY)
    except ValueError:  # midnight skipped by a DST change: read the day time by time
        return midnight
    return start if not repeat and not repeat_at_end and end - start == DAY else midnight


def _date(text: str) -> datetime:
    """Midnight of a YYYY.MM.DD date."""
    match = _DATE.match(text)
    if not match or not 1900 <= int(match[1]) < 2200:
        raise ValueError(f"date {text!r} is not YYYY.MM.DD")
    try:
        return datetime(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        raise ValueError(f"date {text!r} does not exist") from None


def _time_of_day(text: str) -> timedelta:
    """Time since midnight of HH:MM or HH:MM:SS ("" is midnight)."""
    match = _TIME.match(text) if text else _TIME.match("00:00")
    if not match:
        raise ValueError(f"time {text!r} is not HH:MM or HH:MM:SS")
    hours, minutes, seconds = int(match[1]), int(match[2]), int(match[3] or 0)
    if hours > 23 or minutes > 59 or seconds > 59:
        raise ValueError(f"time {text!r} is not HH:MM or HH:MM:SS")
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _micros_of_day(text: str) -> int:
    """Microseconds since midnight of HH:MM or HH:MM:SS ("" is midnight)."""
    return _TIMES[text] // _MICROSECOND


_TIMES = Memo(_time_of_day, limit=1 << 12)  # a file's times of day recur every day
_MICROS_OF_DAY = Memo(_micros_of_day, limit=1 << 12)
