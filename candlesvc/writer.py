"""The only code that writes candles: stage the batch, then one merge in key order.

Small batches are merged straight from arrays (one round trip, no staging table);
larger ones are COPYed into a temporary staging table first.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import Connection, sql

from candlesvc.models import Candle

SMALL_BATCH = 64
_TABLE = sql.Identifier("market_data_candles")
_COLUMNS = sql.SQL(", ").join(
    map(sql.Identifier, ("symbol", "timeframe", "timestamp", "open", "high", "low", "close",
                         "volume"))
)  # fmt: skip
_CONFLICT = sql.SQL("ON CONFLICT (symbol, timeframe, {}) DO NOTHING").format(
    sql.Identifier("timestamp")
)
_STAGE = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS candle_stage ("
    " symbol text, timeframe text, ts timestamptz, open numeric, high numeric,"
    " low numeric, close numeric, volume bigint, ord bigint"
    ") ON COMMIT DELETE ROWS"
)
_COPY = sql.SQL(
    "COPY candle_stage (symbol, timeframe, ts, open, high, low, close, volume, ord) FROM STDIN"
)
_MERGE_STAGE = sql.SQL(
    "INSERT INTO {table} ({columns})"
    " SELECT symbol, timeframe, ts, open, high, low, close, volume FROM candle_stage"
    " ORDER BY symbol, timeframe, ts, ord {conflict}"
).format(table=_TABLE, columns=_COLUMNS, conflict=_CONFLICT)
_MERGE_ARRAYS = sql.SQL(
    "INSERT INTO {table} ({columns})"
    " SELECT symbol, timeframe, ts, open, high, low, close, volume"
    " FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::numeric[], %s::numeric[],"
    " %s::numeric[], %s::numeric[], %s::bigint[])"
    " WITH ORDINALITY AS c(symbol, timeframe, ts, open, high, low, close, volume, ord)"
    " ORDER BY symbol, timeframe, ts, ord {conflict}"
).format(table=_TABLE, columns=_COLUMNS, conflict=_CONFLICT)


@dataclass(frozen=True)
class WriteResult:
    """How many candles a write received, and how many of them it stored."""

    received: int
    added: int

    @property
    def duplicates(self) -> int:
        """Candles that were already stored or repeated within the write."""
        return self.received - self.added

    def __add__(self, other: "WriteResult") -> "WriteResult":
        return WriteResult(self.received + other.received, self.added + other.added)


class CandleWriter:
    """Writes batches of candles inside the caller's transaction on one connection."""

    def __init__(self, conn: Connection[object]) -> None:
        self._conn = conn
        self._staged = False

    def write(self, candles: Sequence[Candle]) -> WriteResult:
        """Store the candles that are new, first occurrence winning; return the counts."""
        if not candles:
            return WriteResult(0, 0)
        if len(candles) <= SMALL_BATCH:
            return WriteResult(len(candles), self._merge_arrays(candles))
        return WriteResult(len(candles), self._merge_staged(candles))

    def _merge_arrays(self, candles: Sequence[Candle]) -> int:
        columns = zip(
            *((c.symbol, c.timeframe, c.timestamp, c.open, c.high, c.low, c.close, c.volume)
              for c in candles),
            strict=True,
        )  # fmt: skip
        with self._conn.cursor() as cur:
            cur.execute(_MERGE_ARRAYS, [list(column) for column in columns])
            return cur.rowcount

    def _merge_staged(self, candles: Sequence[Candle]) -> int:
        with self._conn.cursor() as cur:
            cur.execute(_STAGE)
            if self._staged:
                cur.execute("TRUNCATE candle_stage")
            with cur.copy(_COPY) as copy:
                for ord_, c in enumerate(candles):
                    copy.write_row(
                        (c.symbol, c.timeframe, c.timestamp, c.open, c.high, c.low, c.close,
                         c.volume, ord_)
                    )  # fmt: skip
            self._staged = True
            cur.execute(_MERGE_STAGE)
            return cur.rowcount


def write_candles(conn: Connection[object], candles: Sequence[Candle]) -> WriteResult:
    """Write one batch of candles in the caller's transaction."""
    return CandleWriter(conn).write(candles)
