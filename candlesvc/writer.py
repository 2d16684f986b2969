"""The only code that writes candles: COPY into a staging table, then one ordered merge."""

from collections.abc import Iterable
from dataclasses import dataclass

from psycopg import Connection, sql

from candlesvc.models import Candle

TABLE = sql.Identifier("market_data_candles")
COLUMNS = ("symbol", "timeframe", "timestamp", "open", "high", "low", "close", "volume")
_STAGE = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS candle_stage ("
    " symbol text, timeframe text, ts timestamptz, open numeric, high numeric,"
    " low numeric, close numeric, volume bigint, ord bigint"
    ") ON COMMIT DELETE ROWS"
)
_COPY = sql.SQL(
    "COPY candle_stage (symbol, timeframe, ts, open, high, low, close, volume, ord) FROM STDIN"
)
_MERGE = sql.SQL(
    "INSERT INTO {table} ({columns})"
    " SELECT symbol, timeframe, ts, open, high, low, close, volume FROM candle_stage"
    " ORDER BY symbol, timeframe, ts, ord"
    " ON CONFLICT (symbol, timeframe, {ts}) DO NOTHING"
).format(
    table=TABLE,
    columns=sql.SQL(", ").join(map(sql.Identifier, COLUMNS)),
    ts=sql.Identifier("timestamp"),
)


@dataclass(frozen=True)
class WriteResult:
    """How many candles a write received, stored, and skipped as duplicates."""

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

    def write(self, candles: Iterable[Candle]) -> WriteResult:
        """Stage the candles with COPY and merge them in key order; return the counts."""
        with self._conn.cursor() as cur:
            cur.execute(_STAGE)
            if self._staged:
                cur.execute("TRUNCATE candle_stage")
            received = 0
            with cur.copy(_COPY) as copy:
                for received, c in enumerate(candles, 1):
                    copy.write_row(
                        (c.symbol, c.timeframe, c.timestamp, c.open, c.high, c.low, c.close,
                         c.volume, received)
                    )  # fmt: skip
            self._staged = True
            if not received:
                return WriteResult(0, 0)
            cur.execute(_MERGE)
            return WriteResult(received, cur.rowcount)


def write_candles(conn: Connection[object], candles: Iterable[Candle]) -> WriteResult:
    """Write one batch of candles in the caller's transaction."""
    return CandleWriter(conn).write(candles)
