"""Direct database work: resetting the table, counting rows, and the raw COPY limit."""

from collections.abc import Callable, Sequence
from time import perf_counter

import psycopg
from psycopg import Copy

from bench.candles import CopyRow

COPY = (
    'COPY market_data_candles (symbol, timeframe, "timestamp", open, high, low, close, volume)'
    " FROM STDIN"
)


def reset(url: str) -> None:
    """Empty the candle table and checkpoint, so the next scenario starts alike."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE market_data_candles")
        conn.execute("CHECKPOINT")


def count_rows(url: str) -> int:
    """Rows in the candle table."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM market_data_candles").fetchone()
        return int(row[0]) if row else 0


def copy_rate(url: str, rows: int, feed: Callable[[Copy], None]) -> float:
    """Rows/s of one COPY FROM STDIN into the empty table, commit included."""
    reset(url)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        began = perf_counter()
        with cur.copy(COPY) as copy:
            feed(copy)
        conn.commit()
        seconds = perf_counter() - began
    if count_rows(url) != rows:
        raise RuntimeError("COPY stored a different number of rows than it sent")
    return rows / seconds


def typed_rows(rows: Sequence[CopyRow]) -> Callable[[Copy], None]:
    """Feed COPY typed tuples through psycopg's `write_row` (it adapts each value)."""

    def _feed(copy: Copy) -> None:
        for row in rows:
            copy.write_row(row)

    return _feed


def encoded_text(chunks: Sequence[bytes]) -> Callable[[Copy], None]:
    """Feed COPY text-format bytes prepared in advance, as psql's \\copy does."""

    def _feed(copy: Copy) -> None:
        for chunk in chunks:
            copy.write(chunk)

    return _feed


def server_version(url: str) -> str:
    """The PostgreSQL server's version string."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "unknown"
