"""Broker time zones: turn MT5 server wall-clock times into UTC instants."""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

_OFFSET = re.compile(r"^(?:UTC|GMT)?([+-])(\d{1,2})(?::?(\d{2}))?$")
_NY_PLUS_7 = {"NY+7", "NEWYORK+7", "NEW_YORK+7"}


@dataclass(frozen=True)
class SourceZone:
    """A broker clock: wall time = local time of `zone` shifted forward by `shift`."""

    name: str
    zone: tzinfo
    shift: timedelta = timedelta(0)

    def to_utc(self, wall: datetime) -> datetime:
        """The UTC instant of a naive broker wall-clock time, alone.

        A time that a DST change repeats is its first pass (the earlier instant); a time
        that a change skips raises ValueError.
        """
        return wall_to_utc(self, wall)[0]

    def wall_clock(self, moment: datetime) -> datetime:
        """The broker's naive wall-clock time at an aware instant (the inverse of to_utc)."""
        return moment.astimezone(self.zone).replace(tzinfo=None) + self.shift


ClockState = tuple[datetime, bool] | None  # the last wall time placed, and whether it was later


class InOrder:
    """Places wall times in the order they come, as a file or a batch lists them.

    Where a DST change repeats an hour, the first pass through it is the earlier instant;
    once the times go back (a time at or before the previous one, or within the repeat
    after a later one), the later instant. A time that a change skips raises ValueError.
    """

    def __init__(self, zone: SourceZone, previous: ClockState = None) -> None:
        self.zone = zone
        self.previous = previous

    def to_utc(self, wall: datetime) -> datetime:
        """The UTC instant of the next wall time."""
        return self.place(wall)[0]

    def place(self, wall: datetime) -> tuple[datetime, bool]:
        """The next wall time's UTC instant, and whether a DST change repeats it."""
        earliest, repeat = wall_to_utc(self.zone, wall)
        later = bool(repeat) and self._in_second_pass(wall, repeat)
        self.previous = (wall, later)
        return (earliest + repeat if later else earliest), bool(repeat)

    def _in_second_pass(self, wall: datetime, repeat: timedelta) -> bool:
        """Whether the times have already gone back through this repeated wall time."""
        if self.previous is None:
            return False
        previous, previous_was_later = self.previous
        return wall <= previous or (previous_was_later and wall - previous < repeat)


@lru_cache(maxsize=256)
def parse_zone(text: str) -> SourceZone:
    """Parse an IANA name, a fixed offset like +02:00 or UTC+3, or NY+7."""
    name = text.strip()
    if name.upper() in {"UTC", "Z", "GMT"}:
        return SourceZone("UTC", UTC)
    if name.upper() in _NY_PLUS_7:
        return SourceZone("NY+7", ZoneInfo("America/New_York"), timedelta(hours=7))
    match = _OFFSET.match(name.upper())
    if match:
        return SourceZone(name, timezone(_offset(*match.groups())))
    if name in _iana_names():
        return SourceZone(name, ZoneInfo(name))
    raise ValueError(
        f"unknown time zone {name!r}: use an IANA name (Europe/Athens), an offset (+02:00) or NY+7"
    )


@lru_cache(maxsize=1)
def _iana_names() -> frozenset[str]:
    """The IANA zone names tzdata knows; not folders, and not the machine-dependent localtime."""
    return frozenset(available_timezones() - {"localtime"})


def _offset(sign: str, hours: str, minutes: str | None) -> timedelta:
    """Build a bounded UTC offset from its parsed parts."""
    delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
    if delta > timedelta(hours=14) or int(minutes or 0) >= 60:
        raise ValueError("UTC offsets range from -14:00 to +14:00")
    return -delta if sign == "-" else delta


def wall_to_utc(zone: SourceZone, wall: datetime) -> tuple[datetime, timedelta]:
    """Earliest UTC instant of a naive wall time and how long a DST change repeats it (else 0).

    Raises ValueError for a wall time that a DST change skips. The later instant of a
    repeated time is the returned one plus the returned repeat.
    """
    local = (wall - zone.shift).replace(tzinfo=zone.zone)
    first = local.utcoffset() or timedelta(0)
    second = local.replace(fold=1).utcoffset() or timedelta(0)
    if second > first:
        raise ValueError(f"time does not exist in {zone.name} (skipped by a DST change)")
    return local.astimezone(UTC), first - second
