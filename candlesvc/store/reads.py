"""The only code that reads candles: two queries, each served by market_data_candles_key."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import Connection, sql

# The newest bar of each (symbol, timeframe) pair, in the order asked: one backward
# index scan per pair, one round trip for all of them.
LATEST = sql.SQL(
    'SELECT c."timestamp", c.open, c.high, c.low, c.close, c.volume'
    " FROM unnest(%(symbols)s::text[], %(timeframes)s::text[])"
    "  WITH ORDINALITY AS p(symbol, timeframe, ord)"
    " LEFT JOIN LATERAL ("
    '  SELECT m."timestamp", m.open, m.high, m.low, m.close, m.volume'
    "  FROM market_data_candles AS m"
    "  WHERE m.symbol = p.symbol AND m.timeframe = p.timeframe"
    '  ORDER BY m."timestamp" DESC LIMIT 1'
    " ) AS c ON true"
    " ORDER BY p.ord"
)
# One page of bars in time order: an index range scan that stops after `limit` rows.
PAGE = sql.SQL(
    'SELECT "timestamp", open, high, low, close, volume FROM market_data_candles'
    " WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s"
    '  AND "timestamp" >= %(start)s AND "timestamp" < %(end)s'
    ' ORDER BY "timestamp" LIMIT %(limit)s'
)


@dataclass(frozen=True)
class Bar:
    """One stored bar of a known symbol and timeframe."""

    timestamp: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


def latest(conn: Connection[Any], pairs: Sequence[tuple[str, str]]) -> list[Bar | None]:
    """The newest stored bar of each (symbol, timeframe) pair, None where there is none."""
    params = {"symbols": [p[0] for p in pairs], "timeframes": [p[1] for p in pairs]}
    rows = conn.execute(LATEST, params).fetchall()
    return [Bar(*row) if row[0] is not None else None for row in rows]


def page(
    conn: Connection[Any], symbol: str, timeframe: str, start: datetime, end: datetime, limit: int
) -> list[Bar]:
    """Up to `limit` bars with start <= timestamp < end, oldest first."""
    params = {
        "symbol": symbol,
        "timeframe": timeframe,
        "start": start,
        "end": end,
        "limit": limit,
    }
    return [Bar(*row) for row in conn.execute(PAGE, params).fetchall()]
