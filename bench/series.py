"""The series catalogue and a series' gaps, read over HTTP from a table of many series."""

import http.client
import json
import time
from collections.abc import Callable
from typing import Any

import psycopg

from bench.figures import Figure
from bench.loadgen import percentile
from bench.stack import Stack, reset

# Each series: M1 bars a minute apart, with an hour left out every day (so there are gaps).
FILL = """
INSERT INTO market_data_candles (symbol, timeframe, "timestamp", open, high, low, close, volume)
SELECT 'SYM' || lpad(s::text, 4, '0'), 'M1', timestamptz '2020-01-01Z' + m * interval '1 minute',
       1.1, 1.2, 1.0, 1.15, m
FROM generate_series(1, %(series)s) AS s, generate_series(0, %(bars)s - 1) AS m
WHERE m %% 1440 NOT BETWEEN 600 AND 659
"""


def series_figures(stack: Stack, series: int, bars: int, reads: int) -> list[Figure]:
    """Fill the table with `series` series of about `bars` bars, then time both reads."""
    reset(stack.url)
    with psycopg.connect(stack.url, autocommit=True) as conn:
        conn.execute(FILL, {"series": series, "bars": bars})
        conn.execute("VACUUM ANALYZE market_data_candles")  # as autovacuum leaves it
        stored = conn.execute("SELECT count(*) FROM market_data_candles").fetchone()
    rows = int(stored[0]) if stored else 0
    stack.start_service()
    try:
        listing = _timed(stack, "/api/v1/series", reads, lambda a: len(a["series"]) == series)
        gaps = _timed(
            stack,
            "/api/v1/series/gaps?symbol=SYM0001&timeframe=M1",
            reads,
            lambda a: not a["truncated"],
        )
    finally:
        stack.stop_service()
    where = f"{rows:,} rows in {series} series"
    return [
        _figure("series_catalogue", f"Series catalogue, {where}", listing),
        _figure("series_gaps", f"Gaps of one series of {rows // series:,} bars", gaps),
    ]


def _timed(stack: Stack, path: str, times: int, check: Callable[[Any], bool]) -> list[float]:
    """Seconds each of `times` GETs took, on one kept-alive connection, the first not counted."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
    took = []
    try:
        for _ in range(times + 1):
            began = time.perf_counter()
            conn.request("GET", path, headers={"X-API-KEY": stack.api_key})
            answer = conn.getresponse()
            body = json.loads(answer.read())
            took.append(time.perf_counter() - began)
            if answer.status != 200 or not check(body):
                raise RuntimeError(f"GET {path} answered {answer.status}: {str(body)[:200]}")
    finally:
        conn.close()
    return sorted(took[1:])


def _figure(key: str, scenario: str, took: list[float]) -> Figure:
    """Latencies of repeated reads, as a figure."""
    return Figure(
        key=key,
        scenario=scenario,
        value=percentile(took, 0.50) * 1000,
        unit="ms",
        p50_ms=percentile(took, 0.50) * 1000,
        p99_ms=percentile(took, 0.99) * 1000,
        max_ms=took[-1] * 1000,
        requests=len(took),
    )
