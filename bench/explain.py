"""EXPLAIN (ANALYZE, BUFFERS) of the writer's merge from its staging table, 1,000 rows.

The statements mirror candlesvc/writer.py's staged path (CREATE TEMP TABLE, COPY, then
INSERT ... SELECT ... ORDER BY key ON CONFLICT DO NOTHING); each step is timed too.
"""

from time import perf_counter

import psycopg

from bench.candles import Bar, bars, copy_chunks, copy_row
from bench.dbops import copy_rate, encoded_text

STAGE = (
    "CREATE TEMP TABLE IF NOT EXISTS candle_stage (symbol text, timeframe text, ts timestamptz,"
    " open numeric, high numeric, low numeric, close numeric, volume bigint, ord bigint)"
    " ON COMMIT DELETE ROWS"
)
COPY = "COPY candle_stage (symbol, timeframe, ts, open, high, low, close, volume, ord) FROM STDIN"
MERGE = (
    'INSERT INTO market_data_candles (symbol, timeframe, "timestamp", open, high, low, close,'
    " volume) SELECT symbol, timeframe, ts, open, high, low, close, volume FROM candle_stage"
    ' ORDER BY symbol, timeframe, ts, ord ON CONFLICT (symbol, timeframe, "timestamp") DO NOTHING'
)
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
        with cur.copy(COPY) as copy:
            for order, bar in enumerate(batch):
                copy.write_row((*copy_row(bar, "EURUSD"), order))
        copied = perf_counter()
        plan = cur.execute(f"EXPLAIN (ANALYZE, BUFFERS, WAL) {MERGE}").fetchall()
        merged = perf_counter()
        conn.commit()
        committed = perf_counter()
    steps = (f"create temp {1000 * (staged - began):.1f} ms, COPY {1000 * (copied - staged):.1f}"
             f" ms, merge {1000 * (merged - copied):.1f} ms, commit "
             f"{1000 * (committed - merged):.1f} ms")  # fmt: skip
    return "\n".join([f"## Merge of {title}: {steps}", *(row[0] for row in plan)])
