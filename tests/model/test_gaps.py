"""Missing bars between two stored bars, on the broker's clock, against a plain count."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from candlesvc.model.gaps import STEPS, gap
from candlesvc.model.timezones import parse_zone, wall_to_utc

NY7 = parse_zone("NY+7")


def utc_of(zone_name: str, wall: str) -> datetime:
    """The instant of a broker wall time, e.g. '2024.03.08 23:59'."""
    return parse_zone(zone_name).to_utc(datetime.strptime(wall, "%Y.%m.%d %H:%M"))


@pytest.mark.parametrize(
    ("zone", "timeframe", "after", "before", "weekend", "missing"),
    [
        ("UTC", "M1", "2024.01.02 10:00", "2024.01.02 10:04", False, 3),
        ("UTC", "M1", "2024.01.02 10:00", "2024.01.02 10:01", False, None),
        ("NY+7", "M1", "2024.01.05 23:59", "2024.01.08 00:00", True, None),  # the FX weekend
        ("NY+7", "M1", "2024.01.05 23:59", "2024.01.08 00:00", False, 2 * 1440),
        ("NY+7", "M1", "2024.01.05 23:58", "2024.01.08 00:01", True, 2),
        ("NY+7", "H1", "2024.03.10 08:00", "2024.03.10 10:00", False, None),  # 09:00 is skipped
        ("NY+7", "H1", "2024.03.10 08:00", "2024.03.10 11:00", False, 1),
        ("NY+7", "H1", "2024.11.03 08:00", "2024.11.03 09:00", False, None),  # 08:00 repeats
        ("Europe/Athens", "D1", "2024.03.30 00:00", "2024.04.01 00:00", False, 1),
        ("UTC", "H4", "2024.01.02 00:00", "2024.01.02 20:00", False, 4),
        ("UTC", "W1", "2024.01.07 00:00", "2024.01.28 00:00", True, 2),
        ("UTC", "MN1", "2024.01.01 00:00", "2024.04.01 00:00", False, 2),
    ],
)
def test_missing_bars_follow_the_broker_clock(zone, timeframe, after, before, weekend, missing):
    found = gap(utc_of(zone, after), utc_of(zone, before), timeframe, parse_zone(zone), weekend)
    assert (found.missing if found else None) == missing


def naive(after: datetime, before: datetime, timeframe: str, zone_name: str, weekend: bool) -> int:
    """Every intraday opening wall time between, tried one by one."""
    zone = parse_zone(zone_name)
    step = timedelta(minutes=STEPS[timeframe])
    start, end = zone.wall_clock(after), zone.wall_clock(before)
    wall, count = datetime(start.year, start.month, start.day), 0
    while wall < end:
        if wall > start and not (weekend and wall.weekday() >= 5):
            try:
                wall_to_utc(zone, wall)
                count += 1
            except ValueError:
                pass
        wall += step
    return count


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(["UTC", "+02:00", "NY+7", "Europe/Athens", "Australia/Lord_Howe"]),
    timeframe=st.sampled_from(["M5", "M15", "M30", "H1", "H4", "H12", "D1"]),
    start=st.datetimes(datetime(2024, 3, 1), datetime(2024, 11, 30)),
    length=st.integers(0, 60 * 24 * 20),
    weekend=st.booleans(),
)
def test_missing_bars_match_a_count_of_every_opening(zone, timeframe, start, length, weekend):
    step = timedelta(minutes=STEPS[timeframe])
    wall = (
        datetime(start.year, start.month, start.day)
        + (start - start.replace(hour=0, minute=0, second=0, microsecond=0)) // step * step
    )
    source = parse_zone(zone)
    try:
        after = source.to_utc(wall)
        before = source.to_utc(wall + timedelta(minutes=length) // step * step)
    except ValueError:  # a stored bar never sits at a skipped wall time
        return
    if before <= after:
        return
    found = gap(after.astimezone(UTC), before.astimezone(UTC), timeframe, source, weekend)
    assert (found.missing if found else 0) == naive(after, before, timeframe, zone, weekend)
