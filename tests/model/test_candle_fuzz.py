"""Property-based tests of the candle model and the timestamp parser, with database round trips.

Any input either validates to a candle that obeys every documented rule and round-trips
exactly through PostgreSQL, or is rejected: ValidationError in the model, 422 over HTTP.
"""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from candlesvc.model.candle import TIMEFRAMES, Candle, parse_timestamp, validate_batch
from candlesvc.model.timezones import parse_zone
from tests.helpers import post, rows
from tests.strategies import (
    ANY,
    CLOCKS,
    EARLIEST,
    EPOCH,
    IANA_CLOCKS,
    LATEST,
    REJECT,
    BatchCase,
    aware_timestamps,
    batches,
    instants_at,
    number_verdict,
    symbol_rule,
    to_json,
    wall_timestamps,
    walls,
)

UTC_ZONE = parse_zone("UTC")
MODEL = settings(max_examples=200, deadline=None, derandomize=True)
PARSER = settings(max_examples=200, deadline=None, derandomize=True)
ROUND_TRIP = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PRICES = ("open", "high", "low", "close")
MINUTE = timedelta(minutes=1)
PAD = 64  # filler candles that push a batch past writer.SMALL_BATCH onto the COPY path


def obeys_the_rules(candle: Candle, raw: dict[str, Any]) -> None:
    """An accepted candle satisfies every rule in the README and keeps what was sent."""
    assert candle.symbol == raw["symbol"]
    assert symbol_rule(candle.symbol)
    assert candle.timeframe in TIMEFRAMES
    assert candle.timeframe == raw["timeframe"].upper()
    assert candle.timestamp.utcoffset() == timedelta(0)
    assert EARLIEST <= candle.timestamp < LATEST
    assert isinstance(raw["timestamp"], int | str)
    assert not isinstance(raw["timestamp"], bool)
    for name in PRICES:
        sent = number_verdict(raw[name])
        assert sent is not REJECT, (name, raw[name])
        value = getattr(candle, name)
        assert value.is_finite()
        assert -20 <= value.adjusted() <= 20
        assert sent is ANY or identical(value, sent), (name, value, sent)
    assert candle.low <= min(candle.open, candle.close)
    assert candle.high >= max(candle.open, candle.close)
    assert candle.volume == raw["volume"]
    assert type(raw["volume"]) is int
    assert 0 <= candle.volume < 2**63


def identical(value: Decimal, sent: Any) -> bool:
    """The same number written with the same digits (the model keeps what was sent)."""
    return value == sent and value.as_tuple() == sent.as_tuple()


def exactly(value: Decimal, sent: Decimal) -> bool:
    """The same number with the same digits after the point (NUMERIC keeps them; it has no -0
    and no positive exponent, so 1E+2 is stored as 100)."""
    return value == sent and value.as_tuple().exponent == min(int(sent.as_tuple().exponent), 0)


def row_of(candle: Candle) -> tuple[Any, ...]:
    return (
        candle.symbol,
        candle.timeframe,
        candle.timestamp,
        candle.open,
        candle.high,
        candle.low,
        candle.close,
        candle.volume,
    )


def same_rows(stored: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> None:
    """Symbols byte for byte, the UTC instant, exact decimals, volume."""
    assert len(stored) == len(expected)
    for got, want in zip(stored, expected, strict=True):
        assert got[0].encode() == want[0].encode()
        assert got[1:3] == want[1:3]
        for stored_price, sent_price in zip(got[3:7], want[3:7], strict=True):
            assert exactly(stored_price, sent_price), (stored_price, sent_price)
        assert got[7] == want[7]


def first_per_key(candles: list[Candle]) -> list[tuple[Any, ...]]:
    first: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for candle in candles:
        first.setdefault(row_of(candle)[:3], row_of(candle))
    return sorted(first.values(), key=lambda row: row[:3])


# ---- the model ------------------------------------------------------------------------------


@MODEL
@given(batches())
def test_model_accepts_exactly_what_the_rules_allow(case: BatchCase):
    try:
        batch = validate_batch(case.body, UTC_ZONE)
    except ValidationError:
        assert case.verdict is not None, "a candle valid by every rule was rejected"
        return
    assert case.verdict is not REJECT, "a candle that breaks a rule was accepted"
    assert len(batch.candles) == len(case.candles)
    for candle, generated in zip(batch.candles, case.candles, strict=True):
        obeys_the_rules(candle, generated.raw)
        if isinstance(generated.expected, tuple):
            assert row_of(candle)[:3] == generated.expected[:3]
            assert all(map(identical, row_of(candle)[3:7], generated.expected[3:7]))


# ---- the database round trip ----------------------------------------------------------------


def padding() -> list[dict[str, Any]]:
    start = datetime(2000, 1, 1, tzinfo=UTC)
    return [
        {
            "symbol": "~PAD",
            "timeframe": "M1",
            "timestamp": (start + i * MINUTE).isoformat(),
            "open": 1,
            "high": 1,
            "low": 1,
            "close": 1,
            "volume": i,
        }
        for i in range(PAD)
    ]


@ROUND_TRIP
@given(case=batches(), padded=st.booleans())
def test_api_stores_exactly_what_the_model_accepts(client, db, case: BatchCase, padded: bool):
    db.execute("DELETE FROM market_data_candles")
    body = case.body
    if padded and isinstance(body.get("candles"), list):
        body = body | {"candles": body["candles"] + padding()}
    text = to_json(body)
    response = post(client, text.encode())
    event(f"{response.status_code} verdict={case.verdict and case.verdict.value} padded={padded}")
    assert response.status_code in (201, 422), response.get_data()
    if response.status_code == 422:
        assert case.verdict is not None, (text, response.get_json())
        assert rows(db) == []
        return
    assert case.verdict is not REJECT
    accepted = validate_batch(json.loads(text, parse_float=Decimal), UTC_ZONE).candles
    expected = first_per_key(list(accepted))
    if case.verdict is None and not padded:
        assert expected == case.expected_rows(), text
    assert response.get_json() == {
        "received": len(accepted),
        "records_added": len(expected),
        "duplicates": len(accepted) - len(expected),
    }
    same_rows(rows(db), expected)


# ---- the timestamp parser -------------------------------------------------------------------


@PARSER
@given(aware_timestamps(), st.sampled_from(sorted(CLOCKS)))
def test_an_aware_iso_timestamp_is_its_instant_whatever_the_source_zone(sent, clock):
    try:
        moment = parse_timestamp(sent.raw, parse_zone(clock))
    except ValueError:
        assert sent.expected is REJECT, sent.raw
        return
    assert moment == sent.expected
    assert moment.tzinfo is UTC


@PARSER
@given(
    st.datetimes(datetime(1969, 12, 20), datetime(2100, 1, 10)),
    st.integers(-14 * 60, 14 * 60),
    st.integers(0, 2),
)
def test_a_naive_time_in_a_fixed_offset_zone_is_the_wall_time_minus_the_offset(wall, minutes, form):
    sign, (hours, mins) = "-" if minutes < 0 else "+", divmod(abs(minutes), 60)
    name = [
        f"{sign}{hours:02d}:{mins:02d}",
        f"UTC{sign}{hours}:{mins:02d}",
        f"GMT{sign}{hours:02d}{mins:02d}",
    ][form]
    expected = (wall - timedelta(minutes=minutes)).replace(tzinfo=UTC)
    try:
        moment = parse_timestamp(wall.isoformat(), parse_zone(name))
    except ValueError:
        assert not EARLIEST <= expected < LATEST, (wall, name)
        return
    assert moment == expected, (wall, name)


@PARSER
@given(st.sampled_from(IANA_CLOCKS).flatmap(lambda c: st.tuples(st.just(c), walls(c))))
def test_an_iana_wall_time_converts_back_to_itself_or_is_rejected_in_a_gap(drawn):
    clock, wall = drawn
    zone, shift = CLOCKS[clock]
    found = instants_at(wall, clock)
    try:
        moment = parse_timestamp(wall.isoformat(), parse_zone(clock))
    except ValueError:
        assert not found or not EARLIEST <= found[0] < LATEST, (clock, wall, found)
        return
    assert found[0] == moment, (clock, wall)  # alone, a repeated time is its first pass
    assert moment.astimezone(zone).replace(tzinfo=None) + shift == wall


@PARSER
@given(st.sampled_from(sorted(CLOCKS)).flatmap(lambda c: st.tuples(st.just(c), wall_timestamps(c))))
def test_mt5_text_dates_and_epoch_seconds_are_wall_times_in_the_source_zone(drawn):
    clock, sent = drawn
    try:
        moment = parse_timestamp(sent.raw, parse_zone(clock))
    except ValueError:
        assert sent.expected is REJECT, (clock, sent.raw)
        return
    assert moment == sent.expected, (clock, sent.raw)


@PARSER
@given(
    st.one_of(
        st.text(max_size=40),
        st.from_regex(
            r"\A(19|20|21)\d\d[-.]\d\d[-.]\d\d([T ]\d\d(:\d\d(:\d\d(\.\d+)?)?)?)?"
            r"(Z|[+-]\d\d(:?\d\d(:?\d\d)?)?)?\Z"
        ),
        st.integers(),
        st.floats(),
        st.none(),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
        st.datetimes(datetime(1900, 1, 1), datetime(2200, 1, 1)),
    ),
    st.sampled_from(sorted(CLOCKS)),
)
def test_any_value_is_an_in_range_utc_instant_or_a_value_error(value, clock):
    try:
        moment = parse_timestamp(value, parse_zone(clock))
    except ValueError:
        return
    assert isinstance(value, int | str | datetime)
    assert not isinstance(value, bool)
    assert moment.utcoffset() == timedelta(0)
    assert EARLIEST <= moment < LATEST
    if isinstance(value, int):
        assert moment == instants_at(EPOCH + timedelta(seconds=value), clock)[0]
