"""The candle model: every validation rule and timestamp form."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from candlesvc.model.candle import CANDLE, LATEST, TIMEFRAMES, Candle, validate_batch
from candlesvc.model.timezones import parse_zone
from tests.helpers import candle

UTC_ZONE = parse_zone("UTC")


def valid(zone: str = "UTC", **overrides: object) -> Candle:
    return validate_batch({"candles": [candle(**overrides)]}, parse_zone(zone)).candles[0]


def problems(zone: str = "UTC", **overrides: object) -> list[tuple[str, ...]]:
    with pytest.raises(ValidationError) as caught:
        validate_batch({"candles": [candle(**overrides)]}, parse_zone(zone))
    return [tuple(map(str, e["loc"][2:])) for e in caught.value.errors()]


@pytest.mark.parametrize(
    "symbol",
    [
        "EURUSD",
        "EURUSD!",
        "WDO$N",
        "GOLD#",
        "XAUUSD.pro",
        "#AAPL",
        "EURUSD+",
        "US Oil",
        "Volatility 75 Index",
        "AT&T",
        "BRENT-FUT",
        "EUR_USD",
        "S" * 32,
    ],
)
def test_real_broker_symbols_are_accepted(symbol):
    assert valid(symbol=symbol).symbol == symbol


@pytest.mark.parametrize("symbol", ["", " EURUSD", "EURUSD ", "EUR\tUSD", "EUR\x00", "S" * 33])
def test_impossible_symbols_are_rejected(symbol):
    assert problems(symbol=symbol) == [("symbol",)]


def test_all_21_timeframes_and_lower_case():
    assert len(TIMEFRAMES) == 21
    for name in TIMEFRAMES:
        assert valid(timeframe=name.lower()).timeframe == name


@pytest.mark.parametrize("timeframe", ["M7", "H5", "1H", "", "MN", 60])
def test_unknown_timeframes_are_rejected(timeframe):
    assert problems(timeframe=timeframe) == [("timeframe",)]


@pytest.mark.parametrize(
    ("zone", "value", "expected"),
    [
        ("UTC", "2024-01-02T10:00:00Z", datetime(2024, 1, 2, 10, tzinfo=UTC)),
        ("NY+7", "2024-01-02T10:00:00+02:00", datetime(2024, 1, 2, 8, tzinfo=UTC)),
        ("UTC", "2024-01-02T10:00:00", datetime(2024, 1, 2, 10, tzinfo=UTC)),
        ("+02:00", "2024-01-02T10:00:00", datetime(2024, 1, 2, 8, tzinfo=UTC)),
        ("UTC+3", "2024.01.02 10:00", datetime(2024, 1, 2, 7, tzinfo=UTC)),
        ("-05:30", "2024.01.02 10:00:30", datetime(2024, 1, 2, 15, 30, 30, tzinfo=UTC)),
        ("Europe/Athens", "2024.07.02 10:00", datetime(2024, 7, 2, 7, tzinfo=UTC)),
        ("Europe/Athens", "2024.01.02 10:00", datetime(2024, 1, 2, 8, tzinfo=UTC)),
        ("NY+7", 1_704_189_600, datetime(2024, 1, 2, 8, tzinfo=UTC)),  # winter: GMT+2
        ("NY+7", 1_719_914_400, datetime(2024, 7, 2, 7, tzinfo=UTC)),  # summer: GMT+3
        ("UTC", 1_704_189_600, datetime(2024, 1, 2, 10, tzinfo=UTC)),
        ("UTC", "2024.01.02", datetime(2024, 1, 2, tzinfo=UTC)),
    ],
)
def test_timestamp_forms(zone, value, expected):
    assert valid(zone, timestamp=value).timestamp == expected


TEN_UTC = datetime(2024, 1, 2, 10, tzinfo=UTC)
PLUS_1, PLUS_3 = timezone(timedelta(hours=1)), timezone(timedelta(hours=3))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (TEN_UTC, TEN_UTC),
        (datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC)),
        (LATEST - timedelta(microseconds=1), LATEST - timedelta(microseconds=1)),
        (datetime(2024, 1, 2, 13, tzinfo=PLUS_3), TEN_UTC),
        (datetime(2024, 1, 2, 12), TEN_UTC),  # naive: read in the source zone
    ],
)
def test_datetime_objects_as_the_importer_sends_them(value, expected):
    moment = valid("+02:00", timestamp=value).timestamp
    assert moment == expected
    assert moment.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        LATEST,
        datetime(2100, 1, 1, 1, tzinfo=PLUS_1),
        datetime.max.replace(tzinfo=UTC),
    ],
)
def test_datetime_objects_outside_1970_to_2100_are_rejected(value):
    with pytest.raises(ValidationError, match="timestamp must fall between 1970 and 2100"):
        CANDLE.validate_python(candle(timestamp=value))


def test_ny_plus_7_switches_with_us_dst_not_eu_dst():
    # 2024-03-10 US spring forward; Europe switches on 2024-03-31.
    before = valid("NY+7", timestamp="2024.03.08 12:00").timestamp
    after = valid("NY+7", timestamp="2024.03.11 12:00").timestamp
    assert (before.hour, after.hour) == (10, 9)


@pytest.mark.parametrize(
    ("value", "instant"),
    [("2024.11.03 08:30", "2024-11-03T05:30:00Z"), ("2024-11-03T08:59:00", "2024-11-03T05:59:00Z")],
)  # NY 01:00-01:59 repeats on Nov 3: NY+7 08:00-08:59
def test_a_repeated_wall_time_alone_is_its_first_pass(value, instant):
    assert valid("NY+7", timestamp=value).timestamp == datetime.fromisoformat(instant)


def test_skipped_wall_time_at_dst_change_is_rejected():
    assert problems("Europe/Athens", timestamp="2024.03.31 03:30") == [("timestamp",)]


def test_an_offset_makes_a_dst_fold_time_exact():
    first = valid("NY+7", timestamp="2024-11-03T08:30:00+03:00").timestamp
    second = valid("NY+7", timestamp="2024-11-03T08:30:00+02:00").timestamp
    assert (second - first).total_seconds() == 3600


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2024-13-01T00:00:00Z",
        "2024.01.32 10:00",
        1.5e9,
        True,
        None,
        -1,
        1_704_189_600_000,
        "1969-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        [2024],
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T23:59:59-00:01",
        "2024-01-02T10:00:00.1234561Z",
        "2000-01-01T00:00:00.000001+00:00:00.000001",
        "2024-01-02T10:00:00+00:00:30",
        "2024-W01-1",
        "2024-01-02T10",
        "2024-01-02T10:00:00Z\n",
    ],
)
def test_bad_timestamps_are_rejected(value):
    assert problems(timestamp=value) == [("timestamp",)]


@pytest.mark.parametrize(
    "price",
    [
        "1.1",
        1.1,
        1,
        "0.00001",
        Decimal("1.1"),
        "-37.63",
        "0.00000000000000000001",
        "99999999999999999999.99999999999999999999",
        "-99999999999999999999.99999999999999999999",
    ],
)
def test_prices_from_numbers_and_numeric_strings(price):
    c = valid(open=price, close=price, high=price, low=price)
    assert c.open == Decimal(str(price))


@pytest.mark.parametrize(
    "price",
    [
        True,
        "NaN",
        "Infinity",
        "-Infinity",
        "abc",
        None,
        "1e999",
        "1e20",
        "-1e20",
        "1.100000000000000000001",
        "1." + "0" * 16383 + "1",
    ],
)
def test_non_finite_or_non_numeric_prices_are_rejected(price):
    assert problems(open=price)


@pytest.mark.parametrize(
    ("price", "accepted"),
    [
        ("1." + "0" * 20, True),
        ("1E-20", True),
        ("0E-20", True),
        ("-0.00000000000000000001", True),
        ("12345678901234567890.1", True),
        ("1." + "0" * 21, False),
        ("1E-21", False),
        ("0E-21", False),
        ("-0E-25", False),
        ("12345678901234567890.123456789012345678901", False),
    ],
)
def test_at_most_20_decimal_places_trailing_zeros_included(price, accepted):
    assert_four_prices(price, accepted=accepted)


def test_low_above_open_or_close_is_rejected():
    assert problems(low=1.12) == [()]


def test_high_below_open_or_close_is_rejected():
    assert problems(high=1.12) == [()]


def test_equal_ohlc_is_a_valid_flat_bar():
    assert valid(open=1, high=1, low=1, close=1).high == 1


@pytest.mark.parametrize("volume", [-1, 1.5, "7", True, None, 2**63])
def test_volume_must_be_a_non_negative_integer(volume):
    assert problems(volume=volume) == [("volume",)]


def test_volume_is_required():
    data = candle()
    del data["volume"]
    with pytest.raises(ValidationError, match="volume"):
        validate_batch({"candles": [data]}, UTC_ZONE)


@pytest.mark.parametrize(
    "zone", ["America", "Etc", "localtime", "posixrules", "A" * 256, "é" * 128]
)
def test_zone_names_that_are_not_zones_are_refused(zone):
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_zone(zone)


def test_unknown_fields_are_rejected_in_candle_and_batch():
    assert problems(tick_volume=5) == [("tick_volume",)]
    with pytest.raises(ValidationError, match="unexpected"):
        validate_batch({"candles": [candle()], "unexpected": 1}, UTC_ZONE)


@pytest.mark.parametrize("zone", ["UTC", "+02:00", "NY+7", "Europe/Athens"])
def test_wall_clock_inverts_to_utc(zone):
    source = parse_zone(zone)
    for value in ("2024.01.02 10:00", "2024.07.02 10:00", "2024.03.08 23:00"):
        instant = valid(zone, timestamp=value).timestamp
        assert source.to_utc(source.wall_clock(instant)) == instant
        assert source.wall_clock(instant).strftime("%Y.%m.%d %H:%M") == value


@pytest.mark.parametrize(
    ("price", "accepted"),
    [
        ("99999999999999999999.9", True),
        ("9.9E+19", True),
        ("-1E+19", True),
        ("0E+25", True),
        ("1E+20", False),
        ("-1E+25", False),
        ("100000000000000000000.0", False),
        ("-99999999999999999999.999999999999999999999", False),
    ],
)
def test_prices_stay_below_1e20_in_absolute_value(price, accepted):
    assert_four_prices(price, accepted=accepted)


def assert_four_prices(price: str, *, accepted: bool) -> None:
    """A candle whose four prices are `price` is stored exactly, or refused as a whole."""
    four = {"open": price, "high": price, "low": price, "close": price}
    if accepted:
        assert valid(**four).close.as_tuple() == Decimal(price).as_tuple()
    else:
        assert problems(**four) == [()]
