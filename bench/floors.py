"""Latency floors of a single-candle POST: the HTTP stack alone, and the writer alone."""

from time import perf_counter

import psycopg

from bench.candles import bars, candle_json
from bench.figures import percentile
from bench.loadgen import run_load
from bench.stack import Stack
from candlesvc.models import CANDLE
from candlesvc.writer import CandleWriter

COUNT = 2_000


def http_floor(stack: Stack) -> str:
    """GET /health over keep-alive: gunicorn, Flask and the request log, no database."""
    get = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{stack.port}\r\n\r\n".encode()
    result = run_load(stack.port, [[get] * COUNT])
    return _line("GET /health, sequential (HTTP stack only)", result.latencies())


def writer_floor(url: str) -> str:
    """The writer storing one candle and committing, from one connection: no HTTP."""
    candles = [CANDLE.validate_json(candle_json(bar, "USDJPY")) for bar in bars(COUNT)]
    latencies = []
    with psycopg.connect(url) as conn:
        for candle in candles:
            began = perf_counter()
            CandleWriter(conn).write([candle])
            conn.commit()
            latencies.append(perf_counter() - began)
    return _line("CandleWriter.write of 1 candle + commit (database only)", sorted(latencies))


def _line(title: str, latencies: list[float]) -> str:
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    return f"  {title}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {latencies[-1] * 1000:.1f} ms"
