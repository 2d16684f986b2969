"""EXPLAIN (ANALYZE, BUFFERS) of the writer's merge from its staging table, 1,000 rows.

The statements are candlesvc/writer.py's own for its staged path (CREATE TEMP TABLE, COPY,
then INSERT ... SELECT ... ORDER BY key ON CONFLICT DO NOTHING); each step is timed too.
"""

from time import perf_counter

import psycopg
from psycopg import sql

from bench.candles import Bar, bars, copy_chunks, copy_row
from bench.dbops import copy_rate, encoded_text
from candlesvc.models import CANDLE, Candle
from candlesvc.writer import COPY_STAGE, INSERT, STAGE, STAGING, encode

MERGE = INSERT.format(source=STAGING)
STORED = 63_000  # rows already in the table: the middle of a batch-1,000 scenario


def explain_merge(url: str) -> str:
    """Plans and step timings for 1,000 new rows, then for the same 1,000 again."""
    existing = list(bars(STORED))
    copy_rate(url, STORED, encoded_text(copy_chunks(existing, "EURUSD")))
    batch = list(bars(1_000, first_minute=STORED, seed=7))
    report = [_explained(url, batch, "1,000 new rows")]
    report.append(_explained(url, batch, "the same 1,000 rows again (all duplicates)"))
    return "\n\n".join(report)


def _explained(url: str, batch: list[Bar], title: str) -> str:
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        began = perf_counter()
        cur.execute(STAGE)
        staged = perf_counter()
        with cur.copy(COPY_STAGE) as copy:
            copy.write(encode([_candle(bar) for bar in batch]).data)
        copied = perf_counter()
        plan = cur.execute(sql.SQL("EXPLAIN (ANALYZE, BUFFERS, WAL) {}").format(MERGE)).fetchall()
        merged = perf_counter()
        conn.commit()
        committed = perf_counter()
    steps = (f"create temp {1000 * (staged - began):.1f} ms, COPY {1000 * (copied - staged):.1f}"
             f" ms, merge {1000 * (merged - copied):.1f} ms, commit "
             f"{1000 * (committed - merged):.1f} ms")  # fmt: skip
    return "\n".join([f"## Merge of {title}: {steps}", *(row[0] for row in plan)])


def _candle(bar: Bar) -> Candle:
    """The bar as the model validates it."""
    names = ("symbol", "timeframe", "timestamp", "open", "high", "low", "close", "volume")
    return CANDLE.validate_python(dict(zip(names, copy_row(bar, "EURUSD"), strict=True)))
