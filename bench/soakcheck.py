"""The table against what was acknowledged: row count and checksum per symbol, then overall.

Each row is compared as the text `symbol|timeframe|epoch seconds|open|high|low|close|volume`
with prices trimmed of trailing zeros, joined by commas in timestamp order; PostgreSQL builds
the same text with trim_scale and string_agg, Python from bench.soakbatch.
"""

import hashlib
from collections.abc import Iterable
from typing import Any

import psycopg

from bench.soakbatch import Layout, symbol
from bench.soakclient import SoakStats

_ROW = """concat_ws('|', symbol, timeframe, extract(epoch FROM "timestamp")::bigint,
    trim_scale(open), trim_scale(high), trim_scale(low), trim_scale(close), volume)"""
_DIGESTS = f"""SELECT symbol, count(*),
    md5(string_agg({_ROW}, ',' ORDER BY timeframe, "timestamp"))
    FROM market_data_candles GROUP BY symbol"""  # noqa: S608 (constant text, no input)
_ROWS = f"SELECT {_ROW} FROM market_data_candles WHERE symbol = %s"  # noqa: S608


def verify(url: str, clients: list[SoakStats]) -> dict[str, Any]:
    """Rows and checksums expected (from the 201s) and stored; rows lost and rows extra."""
    expected = {symbol(c.client): _digest(_layout_rows(c)) for c in clients}
    with psycopg.connect(url) as conn:
        stored = {name: (int(n), md5) for name, n, md5 in conn.execute(_DIGESTS).fetchall()}
        differing = sorted(n for n in expected.keys() | stored.keys()
                           if expected.get(n) != stored.get(n))  # fmt: skip
        by_symbol = {symbol(c.client): c for c in clients}
        lost, extra = _differences(conn, [(n, by_symbol.get(n)) for n in differing])
    return {
        "rows_expected": sum(n for n, _ in expected.values()),
        "rows_stored": sum(n for n, _ in stored.values()),
        "checksum_expected": _overall(expected),
        "checksum_stored": _overall(stored),
        "rows_lost": lost,
        "rows_extra": extra,
        "symbols_differing": differing,
    }


def _layout_rows(client: SoakStats) -> Iterable[str]:
    return Layout(client.client).rows(client.acked)


def _digest(rows: Iterable[str]) -> tuple[int, str]:
    """Row count and md5 of the comma-joined rows, as the SQL computes them."""
    lines = list(rows)
    return len(lines), hashlib.md5(",".join(lines).encode(), usedforsecurity=False).hexdigest()


def _overall(digests: dict[str, tuple[int, str]]) -> str:
    """One checksum over every symbol's, in symbol order."""
    joined = ",".join(f"{name}:{n}:{md5}" for name, (n, md5) in sorted(digests.items()))
    return hashlib.md5(joined.encode(), usedforsecurity=False).hexdigest()


def _differences(
    conn: psycopg.Connection[Any], symbols: list[tuple[str, SoakStats | None]]
) -> tuple[int, int]:
    """Expected rows not stored, and stored rows not expected (a changed row counts in both)."""
    lost = extra = 0
    for name, client in symbols:
        want = set(_layout_rows(client)) if client else set()
        have = {row for (row,) in conn.execute(_ROWS, (name,)).fetchall()}
        lost, extra = lost + len(want - have), extra + len(have - want)
    return lost, extra
