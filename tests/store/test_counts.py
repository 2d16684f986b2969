"""The counts every write reports equal what the table gained, on every write path."""

from array import array
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from candlesvc.model.candle import Candle
from candlesvc.store.encoding import encode, encode_series
from candlesvc.store.writer import CandleWriter, OnConflict, WriteResult

START = datetime(2024, 1, 2, tzinfo=UTC)
SERIES = [("EURUSD", "M1"), ("GBPUSD", "M1"), ("EURUSD", "H1")]
PRICES = ["1.1", "1.25", "1.30000"]
Key = tuple[str, str, datetime]
Values = tuple[Decimal, Decimal, Decimal, Decimal, int]


@dataclass(frozen=True)
class Bar:
    """One candle of a scenario: its series, minute, price text and volume."""

    series: int
    minute: int
    price: str
    volume: int

    def key(self) -> Key:
        """Its table key."""
        symbol, timeframe = SERIES[self.series]
        return symbol, timeframe, START + timedelta(minutes=self.minute)

    def values(self) -> Values:
        """Its stored values."""
        price = Decimal(self.price)
        return price, price, price, price, self.volume

    def candle(self) -> Candle:
        """The model's candle."""
        symbol, timeframe, stamp = self.key()
        price = Decimal(self.price)
        return Candle(
            symbol=symbol,
            timeframe=timeframe,
            timestamp=stamp,
            open=price,
            high=price,
            low=price,
            close=price,
            volume=self.volume,
        )


def bars(minutes: st.SearchStrategy[int], series: st.SearchStrategy[int]) -> st.SearchStrategy[Bar]:
    """Bars drawn from a few prices and volumes, so that re-sends often repeat stored values."""
    return st.builds(Bar, series, minutes, st.sampled_from(PRICES), st.integers(0, 3))


ANY_SERIES = st.integers(0, len(SERIES) - 1)


@st.composite
def batches(draw: st.DrawFn) -> list[Bar]:
    """Batches of every shape: small or large, one series ascending (dense or sparse), mixed."""
    size = draw(st.sampled_from([1, 5, 64, 65, 120, 200]))
    if draw(st.booleans()):  # one series in strictly increasing time: the direct paths
        step = draw(st.sampled_from([1, 1, 3]))
        first = draw(st.integers(0, 300))
        series = draw(ANY_SERIES)
        minutes = draw(
            st.lists(
                st.integers(first, first + step * size), min_size=1, max_size=size, unique=True
            )
        )
        return [draw(bars(st.just(m), st.just(series))) for m in sorted(minutes)]
    return draw(st.lists(bars(st.integers(0, 400), ANY_SERIES), min_size=1, max_size=size))


STORED = st.lists(bars(st.integers(0, 500), ANY_SERIES), max_size=400, unique_by=Bar.key)
WAYS = ["candles", "text", "binary", "counted first"]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(stored=STORED, batch=batches(), mode=st.sampled_from(OnConflict), way=st.sampled_from(WAYS))
def test_counts_equal_what_the_table_gained(db, stored, batch, mode, way):
    conn = db  # each example starts from an emptied table
    conn.execute("TRUNCATE market_data_candles")
    with conn.cursor() as cur:
        cur.executemany(
            'INSERT INTO market_data_candles (symbol, timeframe, "timestamp", open, high, low,'
            " close, volume) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(*bar.key(), *bar.values()) for bar in stored],
        )
    before = table(conn)
    result = write(CandleWriter(conn, mode), batch, way)
    after = table(conn)
    assert after == expected(before, batch, mode)
    added = len(after.keys() - before.keys())
    updated = sum(1 for key in before if after[key] != before[key])
    assert (result.received, result.added, result.updated) == (len(batch), added, updated)
    assert result.duplicates == len(batch) - added - updated


def write(writer: CandleWriter, batch: list[Bar], way: str) -> WriteResult:
    """Write the batch the way the service (candles) or the importer (encoded) does."""
    candles = [bar.candle() for bar in batch]
    if way == "candles":
        return writer.write(candles)
    encoded = encode(candles)
    series = {bar.series for bar in batch}
    if way == "binary" and len(series) == 1:
        micros = array(
            "q",
            [
                (c.timestamp - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
                for c in candles
            ],
        )
        prices = [[bar.price for bar in batch] for _ in range(4)]
        encoded = encode_series(SERIES[series.pop()], micros, prices, [b.volume for b in batch])
    if way == "counted first":
        counted = writer.count_stored(encode(candles, lines=False))
        if counted is not None:
            return counted
    return writer.write_encoded(encoded)


def table(conn: psycopg.Connection[Any]) -> dict[Key, Values]:
    """Every stored row by key."""
    found = conn.execute(
        'SELECT symbol, timeframe, "timestamp", open, high, low, close, volume'
        " FROM market_data_candles"
    ).fetchall()
    return {tuple(row[:3]): tuple(row[3:]) for row in found}


def expected(before: dict[Key, Values], batch: list[Bar], mode: OnConflict) -> dict[Key, Values]:
    """The table after the batch.

    ignore keeps stored bars, and the first sent of a key wins; update replaces a stored bar
    with the last sent of its key, unless that one has fewer ticks.
    """
    after = dict(before)
    if mode is OnConflict.IGNORE:
        for bar in batch:
            after.setdefault(bar.key(), bar.values())
        return after
    latest = {bar.key(): bar.values() for bar in batch}
    for key, values in latest.items():
        if key not in after or values[4] >= after[key][4]:  # never fewer ticks than stored
            after[key] = values
    return after
