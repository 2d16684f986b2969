"""The writer on its own: both write paths, duplicates, reuse within a transaction, rollback."""

import threading
from array import array
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import sql

from candlesvc.model.candle import Candle
from candlesvc.store import table
from candlesvc.store.encoding import NotPlainDecimalError, encode, encode_series
from candlesvc.store.writer import SMALL_BATCH, CandleWriter, OnConflict, WriteResult
from tests.helpers import rows

START = datetime(2024, 1, 2, tzinfo=UTC)
STAGED = sql.SQL("SELECT count(*) FROM {}").format(table.STAGING)
MICROSECOND = timedelta(microseconds=1)


def bars(count: int, first: int = 0, volume: int = 1) -> list[Candle]:
    price = Decimal("1.23456")
    return [
        Candle(
            symbol="EURUSD",
            timeframe="M1",
            timestamp=START + timedelta(minutes=first + i),
            open=price,
            high=price,
            low=price,
            close=price,
            volume=volume,
        )
        for i in range(count)
    ]


@pytest.mark.parametrize("size", [1, SMALL_BATCH, SMALL_BATCH + 1, 1000])
def test_both_paths_store_new_rows_and_count_duplicates(database_url, db, size):
    with psycopg.connect(database_url) as conn:
        first = CandleWriter(conn).write(bars(size))
    with psycopg.connect(database_url) as conn:
        again = CandleWriter(conn).write(bars(size) + bars(1, size))
    assert (first.received, first.added, first.duplicates) == (size, size, 0)
    assert (again.received, again.added, again.duplicates) == (size + 1, 1, size)
    assert len(rows(db)) == size + 1
    assert rows(db)[0][3] == Decimal("1.23456")


@pytest.mark.parametrize("size", [2, SMALL_BATCH + 10])
def test_first_occurrence_in_a_batch_wins(database_url, db, size):
    batch = bars(size // 2, volume=1) + bars(size // 2, volume=2)
    with psycopg.connect(database_url) as conn:
        result = CandleWriter(conn).write(batch)
    assert result.duplicates == size // 2
    assert {r[7] for r in rows(db)} == {1}


def test_several_staged_writes_in_one_transaction(database_url, db):
    with psycopg.connect(database_url) as conn:
        writer = CandleWriter(conn)
        results = [writer.write(bars(200, first)) for first in (0, 100, 300)]
    assert [r.added for r in results] == [200, 100, 200]
    assert len(rows(db)) == 500


def test_rolled_back_transaction_stores_nothing(database_url, db):
    with psycopg.connect(database_url) as conn:
        CandleWriter(conn).write(bars(500))
        CandleWriter(conn).write(bars(5, 600))
        conn.rollback()
    assert rows(db) == []


def test_staging_table_is_empty_after_commit(database_url):
    two_series = bars(300) + [replace(c, symbol="GBPUSD") for c in bars(1)]
    with psycopg.connect(database_url) as conn:
        CandleWriter(conn).write(two_series)
        conn.commit()
        assert conn.execute(STAGED).fetchone() == (0,)


def test_empty_write_does_nothing(database_url, db):
    with psycopg.connect(database_url) as conn:
        assert CandleWriter(conn).write([]).received == 0
    assert rows(db) == []


@pytest.mark.parametrize("size", [4, SMALL_BATCH + 4])
def test_update_mode_replaces_changed_bars_and_skips_identical_ones(database_url, db, size):
    with psycopg.connect(database_url) as conn:
        CandleWriter(conn).write(bars(3, volume=1))
    resend = bars(1, 0, volume=1) + bars(size - 1, 1, volume=9)
    with psycopg.connect(database_url) as conn:
        result = CandleWriter(conn, OnConflict.UPDATE).write(resend)
    assert (result.received, result.added, result.updated, result.duplicates) == (
        size,
        size - 3,
        2,
        1,
    )
    assert [r[7] for r in rows(db)] == [1] + [9] * (size - 1)


@pytest.mark.parametrize("size", [2, SMALL_BATCH + 10])
def test_update_mode_last_occurrence_in_a_batch_wins(database_url, db, size):
    batch = bars(size // 2, volume=1) + bars(size // 2, volume=2)
    with psycopg.connect(database_url) as conn:
        result = CandleWriter(conn, OnConflict.UPDATE).write(batch)
    assert (result.added, result.updated, result.duplicates) == (size // 2, 0, size // 2)
    assert {r[7] for r in rows(db)} == {2}


def test_resending_a_stored_series_changes_nothing(database_url, db):
    with psycopg.connect(database_url) as conn:
        CandleWriter(conn).write(bars(1000))
    before = rows(db)
    with psycopg.connect(database_url) as conn:
        again = CandleWriter(conn).write(bars(1000, volume=7))
    assert (again.received, again.added, again.duplicates) == (1000, 0, 1000)
    assert rows(db) == before


def test_losing_a_race_to_a_concurrent_writer_falls_back_to_the_merge(database_url, db):
    with psycopg.connect(database_url) as first:
        CandleWriter(first).write(bars(100, 50))  # uncommitted: invisible to the second probe
        outcome: list[WriteResult] = []

        def second_writer() -> None:
            with psycopg.connect(database_url) as second:
                outcome.append(CandleWriter(second).write(bars(200)))

        thread = threading.Thread(target=second_writer)
        thread.start()
        thread.join(timeout=1)  # the second COPY now waits on the first's keys
        first.commit()
    thread.join()
    (result,) = outcome
    assert (result.added, result.duplicates) == (100, 100)
    assert len(rows(db)) == 200


def test_a_batch_of_several_series_is_merged(database_url, db):
    other = [replace(c, symbol="GBPUSD") for c in bars(50)]
    with psycopg.connect(database_url) as conn:
        CandleWriter(conn).write(bars(10))
        result = CandleWriter(conn).write(bars(50) + other)
    assert (result.added, result.duplicates) == (90, 10)
    assert len(rows(db)) == 100


def test_autocommit_connection_writes_every_path_whole(database_url, db):
    other = [replace(c, symbol="GBPUSD") for c in bars(100)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        writer = CandleWriter(conn)
        results = [writer.write(batch) for batch in (bars(1), bars(200), bars(100) + other)]
    assert [(r.added, r.duplicates) for r in results] == [(1, 0), (199, 1), (100, 100)]
    assert len(rows(db)) == 300


def test_a_small_batch_in_any_order_stores_each_key_once(database_url, db):
    batch = bars(10, volume=1)[::-1] + bars(5, volume=2)
    with psycopg.connect(database_url, autocommit=True) as conn:
        result = CandleWriter(conn).write(batch)
    assert (result.added, result.duplicates) == (10, 5)
    assert [(r[2], r[7]) for r in rows(db)] == [(c.timestamp, 1) for c in bars(10)]


def test_large_batches_keep_odd_symbols_microseconds_and_signs_exact(database_url, db):
    price, low = Decimal("-0.00000000000000000001"), Decimal("-12345678901234567890.5")
    batch = [
        Candle(
            symbol="A\\B C",
            timeframe="M1",
            timestamp=START + timedelta(microseconds=7 + i),
            open=price,
            high=price,
            low=low,
            close=price,
            volume=2**63 - 1,
        )
        for i in range(SMALL_BATCH + 1)
    ]
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert CandleWriter(conn).write(batch).added == SMALL_BATCH + 1
    stored = rows(db)
    assert stored[0] == (
        "A\\B C",
        "M1",
        START + timedelta(microseconds=7),
        price,
        price,
        low,
        price,
        2**63 - 1,
    )
    assert stored[-1][2] == START + timedelta(microseconds=7 + SMALL_BATCH)


def test_a_sparse_batch_over_a_dense_stored_range_is_counted_right(database_url, db):
    with psycopg.connect(database_url, autocommit=True) as conn:
        CandleWriter(conn).write(bars(300))
        result = CandleWriter(conn).write(bars(1) + bars(SMALL_BATCH, 1000))  # 300 stored between
    assert (result.added, result.duplicates) == (SMALL_BATCH, 1)
    assert len(rows(db)) == 300 + SMALL_BATCH


def test_a_batch_without_data_is_counted_only_when_all_its_keys_are_stored(database_url, db):
    with psycopg.connect(database_url) as conn:
        CandleWriter(conn).write(bars(300))
        writer = CandleWriter(conn)
        stored = writer.count_stored(encode(bars(200, 50), lines=False))
        one_new = writer.count_stored(encode(bars(200, 101), lines=False))
        unordered = writer.count_stored(encode(bars(100, 100) + bars(100), lines=False))
        updating = CandleWriter(conn, OnConflict.UPDATE).count_stored(encode(bars(9), lines=False))
        with pytest.raises(ValueError, match="without data"):
            writer.write_encoded(encode(bars(200, 101), lines=False))
    assert (stored, one_new, unordered, updating) == (WriteResult(200, 0), None, None, None)
    assert len(rows(db)) == 300


PRICE_TEXTS = [  # open, high, low, close: scales, signs, zeros and the extremes the model allows
    ("1.10000", "1.20000", "1.00000", "1.10000"),
    ("-0.0", "0", "-1.5", "-0.000"),
    ("99999999999999999999", "99999999999999999999.5", "007.25", "99999999999999999999"),
    ("0.00000000000000000001", "1.00000000000000000000", "-99999999999999999999", "0.1"),
]


def series_columns() -> tuple["array[int]", list[list[str]], list[int]]:
    """The PRICE_TEXTS rows as columns, a minute apart from START."""
    start = (START - datetime(1970, 1, 1, tzinfo=UTC)) // MICROSECOND
    times = array("q", [start + i * 60_000_000 for i in range(len(PRICE_TEXTS))])
    times[-1] += 7  # microseconds too
    prices = [list(column) for column in zip(*PRICE_TEXTS, strict=True)]
    return times, prices, [0, 7, 2**63 - 1, 42]


def stored_texts(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """Every stored candle with its prices as PostgreSQL prints them, in key order."""
    return conn.execute(
        'SELECT symbol, timeframe, "timestamp", open::text, high::text, low::text,'
        ' close::text, volume FROM market_data_candles ORDER BY "timestamp"'
    ).fetchall()


def stored_as_text(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """What the PRICE_TEXTS candles store when written as COPY text; the table left empty."""
    times, _, volumes = series_columns()
    candles = [
        Candle(
            symbol="EURUSD",
            timeframe="M1",
            timestamp=START + (t - times[0]) * MICROSECOND,
            open=Decimal(o),
            high=Decimal(h),
            low=Decimal(lo),
            close=Decimal(c),
            volume=v,
        )
        for t, (o, h, lo, c), v in zip(times, PRICE_TEXTS, volumes, strict=True)
    ]
    assert CandleWriter(conn).write_encoded(encode(candles)).added == len(candles)
    as_text = stored_texts(conn)
    conn.execute("TRUNCATE market_data_candles")
    return as_text


def test_binary_rows_store_exactly_what_the_text_of_the_same_candles_stores(database_url, db):
    times, prices, volumes = series_columns()
    binary = encode_series(("EURUSD", "M1"), times, prices, volumes)
    with psycopg.connect(database_url, autocommit=True) as conn:
        as_text = stored_as_text(conn)
        assert binary.binary
        assert CandleWriter(conn).write_encoded(binary).added == len(PRICE_TEXTS)
        assert stored_texts(conn) == as_text
    assert [row[3:7] for row in as_text[:2]] == [
        ("1.10000", "1.20000", "1.00000", "1.10000"),
        ("0.0", "0", "-1.5", "0.000"),
    ]


def test_binary_rows_with_some_keys_stored_are_merged_exactly(database_url, db):
    times, prices, volumes = series_columns()
    with psycopg.connect(database_url, autocommit=True) as conn:
        as_text = stored_as_text(conn)
        writer = CandleWriter(conn)
        first_two = encode_series(("EURUSD", "M1"), times[:2], [p[:2] for p in prices], volumes[:2])
        assert writer.write_encoded(first_two).added == 2
        everything = encode_series(("EURUSD", "M1"), times, prices, volumes)
        assert writer.write_encoded(everything) == WriteResult(4, 2)
        assert writer.write_encoded(everything) == WriteResult(4, 0)
        assert stored_texts(conn) == as_text


def test_binary_rows_carry_ascii_symbols_only():
    times, prices, volumes = series_columns()
    with pytest.raises(ValueError, match="ASCII"):
        encode_series(("\u00d6l", "M1"), times, prices, volumes)


@pytest.mark.parametrize("text", ["1.5E0", " 1.5", "1_000", "+1.5", "1.", ".5", "NaN"])
def test_binary_rows_take_plain_decimal_texts_only(text):
    times, prices, volumes = series_columns()
    prices[3][1] = text
    with pytest.raises(NotPlainDecimalError, match="plain decimal"):
        encode_series(("EURUSD", "M1"), times, prices, volumes)
    assert encode_series(("EURUSD", "M1"), times, prices, volumes, lines=False).data is None


def closing(volume: int, price: str) -> list[Candle]:
    """The first bar of `bars`, as a forming update with this volume and close."""
    bar = bars(1)[0]
    return [replace(bar, close=Decimal(price), high=max(bar.high, Decimal(price)), volume=volume)]


@pytest.mark.parametrize("size", [1, SMALL_BATCH + 1])
def test_a_delayed_forming_update_never_replaces_the_closed_bar(database_url, db, size):
    late = closing(5, "1.3") + bars(size - 1, 1)
    with psycopg.connect(database_url, autocommit=True) as conn:
        CandleWriter(conn, OnConflict.UPDATE).write(closing(9, "1.4"))
        result = CandleWriter(conn, OnConflict.UPDATE).write(late)
    assert (result.updated, result.duplicates) == (0, 1)
    assert rows(db)[0][6:] == (Decimal("1.4"), 9)


def test_interleaved_writers_keep_the_bar_with_the_most_ticks(database_url, db):
    with psycopg.connect(database_url) as closed, psycopg.connect(database_url) as late:
        CandleWriter(closed, OnConflict.UPDATE).write(closing(9, "1.4"))  # holds the row lock
        waiting = threading.Thread(
            target=lambda: CandleWriter(late, OnConflict.UPDATE).write(closing(5, "1.3"))
        )
        waiting.start()
        wait_until_blocked(db)
        closed.commit()  # the late writer now sees the closed bar and keeps it
        waiting.join(timeout=10)
        late.commit()
    assert not waiting.is_alive()
    assert rows(db)[0][6:] == (Decimal("1.4"), 9)


def wait_until_blocked(db: psycopg.Connection[Any]) -> None:
    """Wait until some session of this database waits for a lock."""
    for _ in range(200):
        waiting = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'"
        ).fetchone()
        if waiting and waiting[0]:
            return
        threading.Event().wait(0.05)
    raise AssertionError("no writer waited for the lock")
