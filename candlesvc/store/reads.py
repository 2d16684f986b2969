"""The only code that reads candles: two queries (store.table), each served by the key's index."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from psycopg import Connection

from candlesvc.store import table


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
    rows = conn.execute(table.LATEST, params).fetchall()
    return [Bar(*row) if row[0] is not None else None for row in rows]


def page(
    conn: Connection[Any],
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
    limit: int,
    backward: bool = False,
) -> list[Bar]:
    """Up to `limit` bars with start <= timestamp < end: the oldest first, or the newest."""
    params = {"symbol": symbol, "timeframe": timeframe, "start": start, "end": end, "limit": limit}
    query = table.PAGE_BACKWARD if backward else table.PAGE
    return [Bar(*row) for row in conn.execute(query, params).fetchall()]
