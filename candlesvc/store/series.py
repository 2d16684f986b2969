"""What is stored: the series catalogue, and the spans between consecutive stored bars.

The catalogue finds each series by skipping through the table's unique index (one probe
per series), its first and last bar by one probe at each end, and its exact bar count and
last new bar from the counts the triggers of sql/006_series_counts.sql keep: no query reads
the bars themselves. The gaps of a series come from one ordered index scan that returns
only the consecutive bars further apart than the timeframe's shortest length.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import Connection, sql

from candlesvc.model.gaps import Gap, gap, shortest
from candlesvc.model.timezones import SourceZone
from candlesvc.store import table

# Every (symbol, timeframe) in key order, found by skipping through the unique index.
_SERIES = sql.SQL(
    "WITH RECURSIVE series AS ("
    " (SELECT symbol, timeframe FROM {table} WHERE {first} ORDER BY symbol, timeframe LIMIT 1)"
    " UNION ALL"
    " SELECT n.symbol, n.timeframe FROM series s, LATERAL ("
    "  SELECT t.symbol, t.timeframe FROM {table} t"
    "  WHERE (t.symbol, t.timeframe) > (s.symbol, s.timeframe) AND {next}"
    "  ORDER BY t.symbol, t.timeframe LIMIT 1) n)"
    " SELECT s.symbol, s.timeframe,"
    '  (SELECT "timestamp" FROM {table} t WHERE t.symbol = s.symbol AND t.timeframe = s.timeframe'
    '   ORDER BY "timestamp" LIMIT 1),'
    '  (SELECT "timestamp" FROM {table} t WHERE t.symbol = s.symbol AND t.timeframe = s.timeframe'
    '   ORDER BY "timestamp" DESC LIMIT 1),'
    "  coalesce(c.bars, 0), c.received_at"
    " FROM series s LEFT JOIN candlesvc_meta.series_counts() c"
    "  ON (c.symbol, c.timeframe) = (s.symbol, s.timeframe)"
    " WHERE %(timeframe)s::text IS NULL OR s.timeframe = %(timeframe)s"
    " ORDER BY s.symbol, s.timeframe"
)


def catalogue_query(by_symbol: bool) -> sql.Composed:
    """The catalogue's statement: of every series, or of %(symbol)s's."""
    first = sql.SQL("symbol = %(symbol)s" if by_symbol else "true")
    following = sql.SQL("t.symbol = %(symbol)s" if by_symbol else "true")
    return _SERIES.format(table=table.TABLE, first=first, next=following)


# Consecutive bars of one series further apart than `step`, in one ordered index scan.
SPANS = sql.SQL(
    'SELECT "timestamp", next FROM ('
    ' SELECT "timestamp", lead("timestamp") OVER (ORDER BY "timestamp") AS next FROM {}'
    " WHERE symbol = %(symbol)s AND timeframe = %(timeframe)s"
    '  AND "timestamp" >= %(start)s AND "timestamp" < %(end)s) AS bars'
    ' WHERE next - "timestamp" > %(step)s'
).format(table.TABLE)


@dataclass(frozen=True)
class Series:
    """One stored series: its first and last bar, how many bars, and the last new one's arrival."""

    symbol: str
    timeframe: str
    first: datetime
    last: datetime
    bars: int
    received_at: datetime | None


def catalogue(
    conn: Connection[Any], symbol: str | None = None, timeframe: str | None = None
) -> list[Series]:
    """Every stored series (of `symbol`, of `timeframe`, if given), in key order."""
    query = catalogue_query(symbol is not None)
    found = conn.execute(query, {"symbol": symbol, "timeframe": timeframe}).fetchall()
    return [Series(*row) for row in found]


def spans(
    conn: Connection[Any],
    symbol: str,
    timeframe: str,
    start: datetime,
    end: datetime,
    step: timedelta,
) -> Iterator[tuple[datetime, datetime]]:
    """Each pair of consecutive stored bars in [start, end) further apart than `step`."""
    params = {"symbol": symbol, "timeframe": timeframe, "start": start, "end": end, "step": step}
    with conn.cursor() as cur:
        yield from cur.execute(SPANS, params)


def gaps(
    conn: Connection[Any],
    symbol: str,
    timeframe: str,
    span: tuple[datetime, datetime],
    zone: SourceZone,
    weekend: bool = False,
    min_missing: int = 1,
    limit: int = 1000,
) -> tuple[list[Gap], bool]:
    """The gaps of a series in a span (at most `limit`), and whether there were more."""
    found: list[Gap] = []
    for after, before in spans(conn, symbol, timeframe, *span, shortest(timeframe)):
        missing = gap(after, before, timeframe, zone, weekend)
        if missing and missing.missing >= min_missing:
            if len(found) == limit:
                return found, True
            found.append(missing)
    return found, False
