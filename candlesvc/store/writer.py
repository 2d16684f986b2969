"""The only code that writes candles: each batch stored in key order, all or nothing.

A batch takes one of four paths (see docs/design.md):
- small: up to SMALL_BATCH candles, one INSERT … VALUES, sorted and deduplicated here;
- all stored: a batch of one series in strictly increasing time whose every key is
  stored already (with on_conflict=ignore) writes nothing: one index range scan counts it;
- new keys: such a batch with no stored time in its span is COPYed straight into the
  table, inside a savepoint (if a concurrent writer wins one of its keys, it is merged);
- merge: anything else is COPYed into a per-session staging table and merged by one
  INSERT … SELECT in key order.
Row level security forbids COPY into the table, so a guarded role merges.
"""

from array import array
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from psycopg import Connection, sql
from psycopg.errors import UniqueViolation
from psycopg.pq import TransactionStatus

from candlesvc.model.candle import Candle
from candlesvc.store import table
from candlesvc.store.encoding import EncodedBatch, encode

SMALL_BATCH = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class OnConflict(StrEnum):
    """What to do with a candle whose key is already stored."""

    IGNORE = "ignore"  # keep the stored bar; first occurrence in a batch wins
    UPDATE = "update"  # replace a stored bar whose values differ, unless the new one has fewer
    # ticks (a delayed update of a forming bar); last occurrence in a batch wins


class Route(StrEnum):
    """The way a batch goes into the table."""

    SMALL = "small"
    ALL_STORED = "all stored"
    NEW_KEYS = "new keys"
    MERGE = "merge"


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


NOTHING = WriteResult(0, 0)


class CandleWriter:
    """Writes batches of candles on one connection, inside the caller's transaction if any."""

    def __init__(self, conn: Connection[Any], on_conflict: OnConflict = OnConflict.IGNORE):
        self._conn = conn
        self.on_conflict = on_conflict
        self._update = on_conflict is OnConflict.UPDATE
        self._staged = False

    def write(self, candles: Sequence[Candle]) -> WriteResult:
        """Store the candles, all or nothing; return the counts."""
        if len(candles) > SMALL_BATCH:
            return self.write_encoded(encode(candles))
        return self._insert_values(candles) if candles else NOTHING

    def write_encoded(self, batch: EncodedBatch) -> WriteResult:
        """Store a batch made by `encode` or `encode_series`, all or nothing; return the counts."""
        if not batch.size:
            return NOTHING
        data = batch.copy_data()
        with self._atomic():
            route = self.route(batch)
            if route is Route.ALL_STORED:
                return WriteResult(batch.size, 0)
            if route is Route.NEW_KEYS and self._copy(data, batch.binary, into=table.TABLE):
                return WriteResult(batch.size, batch.size)
            return self._merge_staged(batch.size, data, batch.binary)

    def count_stored(self, batch: EncodedBatch) -> WriteResult | None:
        """The counts of a batch whose keys are all stored already; None if not so.

        It writes nothing, so the batch needs no data.
        """
        if not batch.size:
            return NOTHING
        return WriteResult(batch.size, 0) if self.route(batch) is Route.ALL_STORED else None

    def route(self, batch: EncodedBatch) -> Route:
        """The path an encoded batch takes, from the times stored in its span."""
        if not (batch.series and batch.ascending):
            return Route.MERGE
        times = batch.instants()
        guarded, stored = self._stored_times(batch.series, times)
        if stored == times and not self._update:
            return Route.ALL_STORED
        return Route.NEW_KEYS if not stored and not guarded else Route.MERGE

    def _stored_times(self, series: tuple[str, str], times: "array[int]") -> tuple[bool, Any]:
        """Whether row level security guards the table, and the stored times in the span.

        At most twice as many times as the batch has: a batch over a densely stored span
        is merged without fetching them all.
        """
        span = (
            _EPOCH + timedelta(microseconds=times[0]),
            _EPOCH + timedelta(microseconds=times[-1]),
        )
        with self._conn.cursor(binary=True) as cur:  # binary: the times load faster
            found = cur.execute(table.STORED_TIMES, (*series, *span, 2 * len(times))).fetchone()
        guarded, stored = found or (True, [])
        return bool(guarded), array("q", stored)

    def _insert_values(self, candles: Sequence[Candle]) -> WriteResult:
        """One INSERT of the candles in key order, each key once, as the mode picks it."""
        rows = {_key(c): c for c in (candles if self._update else reversed(candles))}
        params = [value for key in sorted(rows) for value in _columns(rows[key])]
        return self._insert(len(candles), table.values(len(rows)), params)

    def _merge_staged(self, size: int, data: bytes, binary: bool) -> WriteResult:
        """COPY into the staging table, then merge it into the table in key order."""
        with self._conn.cursor() as cur:
            cur.execute(table.STAGE)
            if self._staged:  # earlier in this transaction
                cur.execute(table.EMPTY_STAGING)
        self._copy(data, binary, into=table.STAGING)
        self._staged = True
        return self._insert(size, table.staged(self._update), [])

    def _insert(self, size: int, rows: sql.Composable, params: list[Any]) -> WriteResult:
        with self._conn.cursor() as cur:
            cur.execute(table.insert(rows, self._update), params)
            if not self._update:
                return WriteResult(size, cur.rowcount)
            added, updated = cur.fetchone() or (0, 0)
            return WriteResult(size, int(added), int(updated))

    def _copy(self, data: bytes, binary: bool, into: sql.Identifier) -> bool:
        """COPY the rows; into the table inside a savepoint, False if a concurrent writer won."""
        direct = into is table.TABLE
        try:
            with (
                self._conn.transaction() if direct else nullcontext(),
                self._conn.cursor() as cur,
                cur.copy(table.copy(into, binary)) as copy,
            ):
                copy.write(data)
        except UniqueViolation:  # raised by the table only: the staging table has no keys
            return False
        return True

    def _atomic(self) -> AbstractContextManager[Any]:
        """A transaction of its own on an autocommit connection outside one; else the caller's."""
        idle = self._conn.info.transaction_status is TransactionStatus.IDLE
        return self._conn.transaction() if self._conn.autocommit and idle else nullcontext()


def _key(candle: Candle) -> tuple[str, str, datetime]:
    return candle.symbol, candle.timeframe, candle.timestamp


def _columns(c: Candle) -> tuple[Any, ...]:
    """A candle's values in table.COLUMNS order."""
    return (c.symbol, c.timeframe, c.timestamp, c.open, c.high, c.low, c.close, c.volume)
