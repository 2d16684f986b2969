"""The series catalogue: exact counts kept by the database, whoever writes and however."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from candlesvc.model.candle import Candle
from candlesvc.store.encoding import encode
from candlesvc.store.series import catalogue
from candlesvc.store.writer import CandleWriter, OnConflict

START = datetime(2024, 1, 2, tzinfo=UTC)
SERIES = [("EURUSD", "M1"), ("GBPUSD", "M1"), ("EURUSD", "H1")]
PRICE = Decimal("1.1")


def bar(series: int, minute: int, volume: int = 1) -> Candle:
    symbol, timeframe = SERIES[series]
    return Candle(
        symbol=symbol,
        timeframe=timeframe,
        timestamp=START + timedelta(minutes=minute),
        open=PRICE,
        high=PRICE,
        low=PRICE,
        close=PRICE,
        volume=volume,
    )


def counted(conn: psycopg.Connection[Any]) -> dict[tuple[str, str], tuple[Any, ...]]:
    """What the catalogue says of each series: first, last, bars."""
    return {(s.symbol, s.timeframe): (s.first, s.last, s.bars) for s in catalogue(conn)}


def recount(conn: psycopg.Connection[Any]) -> dict[tuple[str, str], tuple[Any, ...]]:
    """The same, counted from the table itself."""
    rows = conn.execute(
        'SELECT symbol, timeframe, min("timestamp"), max("timestamp"), count(*)'
        " FROM market_data_candles GROUP BY 1, 2"
    ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


ACTIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("write"),
            st.lists(st.tuples(st.integers(0, 2), st.integers(0, 300)), min_size=1, max_size=120),
            st.sampled_from(OnConflict),
            st.booleans(),
        ),
        st.tuples(st.just("delete"), st.integers(0, 2), st.integers(0, 300)),
        st.tuples(st.just("truncate")),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=ACTIONS)
def test_the_catalogue_counts_exactly_what_is_stored(db, actions):
    db.execute("TRUNCATE market_data_candles")
    for action in actions:
        if action[0] == "write":
            _, keys, mode, encoded = action
            candles = [bar(s, m, volume=m) for s, m in keys]
            writer = CandleWriter(db, mode)
            writer.write_encoded(encode(candles)) if encoded else writer.write(candles)
        elif action[0] == "delete":
            symbol, timeframe = SERIES[action[1]]
            db.execute(
                "DELETE FROM market_data_candles WHERE symbol = %s AND timeframe = %s"
                ' AND "timestamp" >= %s',
                (symbol, timeframe, START + timedelta(minutes=action[2])),
            )
        else:
            db.execute("TRUNCATE market_data_candles")
        assert counted(db) == recount(db)


def test_the_catalogue_filters_by_symbol_and_timeframe(db):
    CandleWriter(db).write([bar(0, 0), bar(0, 1), bar(1, 5), bar(2, 60)])
    assert [(s.symbol, s.timeframe) for s in catalogue(db)] == [
        ("EURUSD", "H1"),
        ("EURUSD", "M1"),
        ("GBPUSD", "M1"),
    ]
    assert [(s.symbol, s.timeframe) for s in catalogue(db, symbol="EURUSD")] == [
        ("EURUSD", "H1"),
        ("EURUSD", "M1"),
    ]
    assert [(s.symbol, s.timeframe) for s in catalogue(db, timeframe="M1")] == [
        ("EURUSD", "M1"),
        ("GBPUSD", "M1"),
    ]
    [eurusd] = catalogue(db, symbol="EURUSD", timeframe="M1")
    assert (eurusd.bars, eurusd.first, eurusd.last) == (2, START, START + timedelta(minutes=1))
    assert eurusd.received_at is not None


def test_counts_are_folded_and_stay_exact(db):
    for minute in range(200):  # one counted statement each
        CandleWriter(db).write([bar(minute % 3, minute)])
    assert db.execute("SELECT count(*) FROM candlesvc_meta.series_counts").fetchone() == (200,)
    assert counted(db) == recount(db)
    assert db.execute("SELECT count(*) FROM candlesvc_meta.series_counts").fetchone() == (3,)
    assert counted(db) == recount(db)


def test_a_long_transaction_does_not_hold_up_other_writers_of_its_series(database_url, db):
    with psycopg.connect(database_url) as importing:
        CandleWriter(importing).write([bar(0, m) for m in range(100)])  # not committed
        outcome: list[object] = []

        def other_writer() -> None:
            with psycopg.connect(database_url) as conn:
                conn.execute("SET lock_timeout = '500ms'")
                outcome.append(CandleWriter(conn).write([bar(0, 500)]))

        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive()
        importing.commit()
    assert len(outcome) == 1
    assert counted(db)[SERIES[0]][2] == 101
