"""The only code that writes candles: stage the batch, then one merge in key order.

Small batches are merged straight from arrays (one round trip, no staging table);
larger ones are COPYed into a temporary staging table first. A large batch of one
symbol and timeframe first counts the stored rows in its time range: if there are none,
it is COPYed straight into the table (in key order, inside a savepoint, falling back to
the staging merge if a concurrent writer got there first). Roles under row level
security always take the staging merge: COPY into a table with active row security is
not allowed.
"""

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any

from psycopg import Connection, sql
from psycopg.errors import UniqueViolation
from psycopg.pq import TransactionStatus

from candlesvc.models import Candle

SMALL_BATCH = 64


class OnConflict(StrEnum):
    """What to do with a candle whose key is already stored."""

    IGNORE = "ignore"  # keep the stored bar; first occurrence in a batch wins
    UPDATE = "update"  # replace a stored bar whose values differ; last occurrence wins


_STAGE = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS candle_stage ("
    " symbol text, timeframe text, ts timestamptz, open numeric, high numeric,"
    " low numeric, close numeric, volume bigint, ord bigint"
    ") ON COMMIT DELETE ROWS"
)
_COPY = sql.SQL(
    "COPY candle_stage (symbol, timeframe, ts, open, high, low, close, volume, ord) FROM STDIN"
)
_ARRAYS = sql.SQL(
    "unnest(%s::text[], %s::text[], %s::timestamptz[], %s::numeric[], %s::numeric[],"
    " %s::numeric[], %s::numeric[], %s::bigint[])"
    " WITH ORDINALITY AS c(symbol, timeframe, ts, open, high, low, close, volume, ord)"
)
_RANGE_PROBE = sql.SQL(
    "SELECT row_security_active('market_data_candles'), count(*) FROM market_data_candles"
    ' WHERE symbol = %s AND timeframe = %s AND "timestamp" BETWEEN %s AND %s'
)
_COPY_DIRECT = sql.SQL(
    'COPY market_data_candles (symbol, timeframe, "timestamp", open, high, low, close, volume)'
    " FROM STDIN"
)
_INSERT = sql.SQL(
    'INSERT INTO market_data_candles (symbol, timeframe, "timestamp", open, high, low, close,'
    " volume) SELECT symbol, timeframe, ts, open, high, low, close, volume FROM {source}"
    " ORDER BY symbol, timeframe, ts, ord"
    ' ON CONFLICT (symbol, timeframe, "timestamp") DO NOTHING'
)
_UPSERT = sql.SQL(
    "WITH merged AS ("
    ' INSERT INTO market_data_candles AS t (symbol, timeframe, "timestamp", open, high, low,'
    " close, volume) SELECT symbol, timeframe, ts, open, high, low, close, volume FROM ("
    "  SELECT DISTINCT ON (symbol, timeframe, ts) * FROM {source}"
    "  ORDER BY symbol, timeframe, ts, ord DESC) AS latest"
    ' ON CONFLICT (symbol, timeframe, "timestamp") DO UPDATE SET open = EXCLUDED.open,'
    " high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,"
    " volume = EXCLUDED.volume"
    " WHERE (t.open, t.high, t.low, t.close, t.volume)"
    "  IS DISTINCT FROM (EXCLUDED.open, EXCLUDED.high, EXCLUDED.low, EXCLUDED.close,"
    "  EXCLUDED.volume)"
    " RETURNING xmax = 0 AS inserted)"
    " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged"
)


@dataclass(frozen=True)
class WriteResult:
    """How many candles a write received, stored as new rows, and used to update rows."""

    received: int
    added: int
    updated: int = 0

    @property
    def duplicates(self) -> int:
        """Candles that changed nothing: already stored as sent, or repeated in the write."""
        return self.received - self.added - self.updated

    def __add__(self, other: "WriteResult") -> "WriteResult":
        return WriteResult(
            self.received + other.received, self.added + other.added, self.updated + other.updated
        )


class CandleWriter:
    """Writes batches of candles on one connection, inside the caller's transaction if any."""

    def __init__(self, conn: Connection[Any], on_conflict: OnConflict = OnConflict.IGNORE):
        self._conn = conn
        self._on_conflict = on_conflict
        self._staged = False

    def write(self, candles: Sequence[Candle]) -> WriteResult:
        """Merge the candles into the table in key order, all or nothing; return the counts."""
        if not candles:
            return WriteResult(0, 0)
        if len(candles) <= SMALL_BATCH:  # one statement: atomic even in autocommit
            return self._merge(candles, _ARRAYS, _columns(candles))
        with self._atomic():
            direct = self._write_new_series(candles) if _one_series(candles) else None
            if direct is not None:
                return direct
            self._stage(candles)
            return self._merge(candles, sql.SQL("candle_stage"), [])

    def _atomic(self) -> AbstractContextManager[Any]:
        """A transaction of its own on an autocommit connection outside one; else the caller's."""
        idle = self._conn.info.transaction_status is TransactionStatus.IDLE
        return self._conn.transaction() if self._conn.autocommit and idle else nullcontext()

    def _write_new_series(self, candles: Sequence[Candle]) -> WriteResult | None:
        """COPY a series none of whose keys are stored; None when the merge must decide."""
        unique = _unique_in_key_order(candles, last_wins=self._on_conflict is OnConflict.UPDATE)
        first, last = unique[0], unique[-1]
        params = (first.symbol, first.timeframe, first.timestamp, last.timestamp)
        guarded, stored = self._conn.execute(_RANGE_PROBE, params).fetchone() or (True, 0)
        if guarded or stored or not self._copy_direct(unique):
            return None
        return WriteResult(len(candles), len(unique))

    def _copy_direct(self, unique: list[Candle]) -> bool:
        """COPY into the table inside a savepoint; False if a concurrent writer won a key."""
        try:
            with (
                self._conn.transaction(),
                self._conn.cursor() as cur,
                cur.copy(_COPY_DIRECT) as copy,
            ):
                for c in unique:
                    copy.write_row(
                        (c.symbol, c.timeframe, c.timestamp, c.open, c.high, c.low, c.close,
                         c.volume)
                    )  # fmt: skip
        except UniqueViolation:
            return False
        return True

    def _merge(
        self, candles: Sequence[Candle], source: sql.Composable, params: list[Any]
    ) -> WriteResult:
        upsert = self._on_conflict is OnConflict.UPDATE
        with self._conn.cursor() as cur:
            cur.execute((_UPSERT if upsert else _INSERT).format(source=source), params)
            if not upsert:
                return WriteResult(len(candles), cur.rowcount)
            added, updated = cur.fetchone() or (0, 0)
            return WriteResult(len(candles), int(added), int(updated))

    def _stage(self, candles: Sequence[Candle]) -> None:
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


def _one_series(candles: Sequence[Candle]) -> bool:
    """Whether every candle has the first one's symbol and timeframe."""
    first = candles[0]
    return all(c.symbol == first.symbol and c.timeframe == first.timeframe for c in candles)


def _unique_in_key_order(candles: Sequence[Candle], last_wins: bool) -> list[Candle]:
    """One candle per timestamp (the first or the last sent), sorted by timestamp."""
    if all(a.timestamp < b.timestamp for a, b in pairwise(candles)):
        return list(candles)
    by_time: dict[datetime, Candle] = {}
    for c in candles:
        if last_wins or c.timestamp not in by_time:
            by_time[c.timestamp] = c
    return [by_time[t] for t in sorted(by_time)]


def _columns(candles: Sequence[Candle]) -> list[Any]:
    """The candles as eight parallel arrays, one per column."""
    rows = ((c.symbol, c.timeframe, c.timestamp, c.open, c.high, c.low, c.close, c.volume)
            for c in candles)  # fmt: skip
    return [list(column) for column in zip(*rows, strict=True)]


def write_candles(conn: Connection[Any], candles: Sequence[Candle]) -> WriteResult:
    """Write one batch of candles in the caller's transaction, ignoring stored keys."""
    return CandleWriter(conn).write(candles)
