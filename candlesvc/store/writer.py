"""The only code that writes candles: new keys COPYed in key order, the rest merged.

Small batches are one statement and no staging table: an INSERT … VALUES in time
order for one series ignoring stored keys, else a merge straight from arrays.
Larger ones are first encoded as COPY data with their times: text from candles
(`encode`), or the binary format, which PostgreSQL reads with less work, from the
importer's columns (`encode_series`, run in its worker processes). A batch of one
series in strictly increasing time fetches the times already stored in its range (up to
twice its size; a sparse batch over a dense range is merged instead) and COPYs only the
new rows straight into the table, inside a savepoint. If a concurrent writer won a key
meanwhile, or the batch is unordered or mixed (or binary with some keys stored), it is
COPYed into a temporary staging table and merged in key order. Roles under row level
security always merge: COPY into a table with active row security is not allowed. COPY
text is always UTF-8, whatever the connection's client encoding; binary COPY, whose text
fields PostgreSQL reads in that encoding, carries ASCII symbols only.
"""

import re
import struct
from array import array
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cache
from itertools import compress, islice, repeat
from operator import add, floordiv, lt, mod, sub
from typing import Any

from psycopg import Connection, sql
from psycopg.errors import UniqueViolation
from psycopg.pq import TransactionStatus
from psycopg.types.numeric import DecimalBinaryDumper

from candlesvc.model.candle import Candle
from candlesvc.model.memo import Memo

SMALL_BATCH = 64
PLAIN_DECIMAL = re.compile(r"-?\d{1,20}(?:\.\d{1,20})?")  # price texts binary rows take as they are


class NotPlainDecimalError(ValueError):
    """A price text that binary rows cannot take as it is: the model read it, not Decimal."""


class OnConflict(StrEnum):
    """What to do with a candle whose key is already stored."""

    IGNORE = "ignore"  # keep the stored bar; first occurrence in a batch wins
    UPDATE = "update"  # replace a stored bar whose values differ, unless the new one has fewer
    # ticks (a delayed update of a forming bar); last occurrence in a batch wins


STAGING = sql.Identifier("candle_staging")  # renamed with its shape: pooled sessions keep it
STAGE = sql.SQL(
    "CREATE TEMP TABLE IF NOT EXISTS {} ("
    " symbol text, timeframe text, ts timestamptz, open numeric, high numeric,"
    " low numeric, close numeric, volume bigint, ord bigint GENERATED ALWAYS AS IDENTITY"
    ") ON COMMIT DELETE ROWS"
).format(STAGING)
_STAGE_COLUMNS = sql.SQL("{} (symbol, timeframe, ts, open, high, low, close, volume)").format(
    STAGING
)
_TABLE_COLUMNS = sql.SQL(
    'market_data_candles (symbol, timeframe, "timestamp", open, high, low, close, volume)'
)
# Binary rows put the volume before the prices: each row is then one fixed-size head
# (field count, symbol, timeframe, time, volume) and four numerics.
_STAGE_BINARY_COLUMNS = sql.SQL(
    "{} (symbol, timeframe, ts, volume, open, high, low, close)"
).format(STAGING)
_TABLE_BINARY_COLUMNS = sql.SQL(
    'market_data_candles (symbol, timeframe, "timestamp", volume, open, high, low, close)'
)
_TEXT, _BINARY = sql.SQL("(ENCODING 'UTF8')"), sql.SQL("(FORMAT binary)")
_COPY = sql.SQL("COPY {} FROM STDIN {}")
COPY_STAGE = _COPY.format(_STAGE_COLUMNS, _TEXT)
_ARRAYS = sql.SQL(
    "unnest(%s::text[], %s::text[], %s::timestamptz[], %s::numeric[], %s::numeric[],"
    " %s::numeric[], %s::numeric[], %s::bigint[])"
    " WITH ORDINALITY AS c(symbol, timeframe, ts, open, high, low, close, volume, ord)"
)
_STORED_TIMES = sql.SQL(
    "SELECT row_security_active('market_data_candles'), array("
    ' SELECT (extract(epoch FROM "timestamp") * 1000000)::int8 FROM market_data_candles'
    ' WHERE symbol = %s AND timeframe = %s AND "timestamp" BETWEEN %s AND %s'
    ' ORDER BY "timestamp" LIMIT %s)'
)
_COPY_STATEMENTS = {  # (into the table, binary) -> COPY statement
    (True, False): _COPY.format(_TABLE_COLUMNS, _TEXT),
    (True, True): _COPY.format(_TABLE_BINARY_COLUMNS, _BINARY),
    (False, False): COPY_STAGE,
    (False, True): _COPY.format(_STAGE_BINARY_COLUMNS, _BINARY),
}
_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, no flags, no extension
_BINARY_TRAILER = b"\xff\xff"
INSERT = sql.SQL(
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
    " AND EXCLUDED.volume >= t.volume"  # a bar's tick volume only grows: never go back
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


@dataclass(frozen=True)
class EncodedBatch:
    """Candles as COPY data with their epoch-microsecond times, in batch order.

    Without data (None), the batch can only be counted as already stored: see
    `CandleWriter.count_stored`.
    """

    data: bytes | None  # text lines, or binary rows without the format's header and trailer
    times: bytes  # array("q"), one per candle
    series: tuple[str, str] | None  # (symbol, timeframe) when every candle shares them
    ascending: bool  # times strictly increasing
    binary: bool = False

    @property
    def size(self) -> int:
        """How many candles the batch holds."""
        return len(self.times) // 8


class CandleWriter:
    """Writes batches of candles on one connection, inside the caller's transaction if any."""

    def __init__(self, conn: Connection[Any], on_conflict: OnConflict = OnConflict.IGNORE):
        self._conn = conn
        self.on_conflict = on_conflict
        self._staged = False

    def write(self, candles: Sequence[Candle]) -> WriteResult:
        """Merge the candles into the table in key order, all or nothing; return the counts."""
        if not candles:
            return NOTHING
        if len(candles) > SMALL_BATCH:
            return self.write_encoded(encode(candles))
        if self.on_conflict is OnConflict.IGNORE and _one_series(candles):
            return self._insert_values(candles)  # one statement: atomic even in autocommit
        return self._merge(len(candles), _ARRAYS, _columns(candles))

    def _insert_values(self, candles: Sequence[Candle]) -> WriteResult:
        """One INSERT of the rows in time order; the first sent of a timestamp wins."""
        ordered = sorted(candles, key=lambda c: c.timestamp)  # stable: first sent stays first
        params = [value for candle in ordered for value in _values(candle)]
        cursor = self._conn.execute(_values_insert(len(ordered)), params)
        return WriteResult(len(candles), cursor.rowcount)

    def write_encoded(self, batch: EncodedBatch) -> WriteResult:
        """Write a batch made by `encode` or `encode_series`, all or nothing; return the counts."""
        if not batch.size:
            return NOTHING
        data, binary = batch.data, batch.binary
        if data is None:
            raise ValueError("a batch without data can only be counted as stored")
        with self._atomic():
            if batch.series and batch.ascending:
                times = array("q", batch.times)
                direct = self._copy_new_keys(batch.series, times, data, binary)
                if direct is not None:
                    return direct
            self._stage(data, binary)
            return self._merge(batch.size, STAGING, [])

    def count_stored(self, batch: EncodedBatch) -> WriteResult | None:
        """The counts of a batch whose keys are all stored already; None if any is not.

        It writes nothing, so it needs no data; with on_conflict=update it always says
        None, since a stored bar may differ from the batch's.
        """
        if not batch.size:
            return NOTHING
        if not (batch.series and batch.ascending) or self.on_conflict is OnConflict.UPDATE:
            return None
        times = array("q", batch.times)
        stored = self._stored_times(batch.series, times)
        return WriteResult(batch.size, 0) if stored is not None and stored == times else None

    def _stored_times(self, series: tuple[str, str], times: "array[int]") -> "array[int] | None":
        """The stored times in the batch's span, in order (at most twice the batch's size).

        None when row level security guards the table for this role: then only the
        merge may write.
        """
        span = (_instant(times[0]), _instant(times[-1]))
        with self._conn.cursor(binary=True) as cur:  # binary: the times load faster
            probe = cur.execute(_STORED_TIMES, (*series, *span, 2 * len(times))).fetchone()
        guarded, stored = probe or (True, [])
        return None if guarded else array("q", stored)

    def _atomic(self) -> AbstractContextManager[Any]:
        """A transaction of its own on an autocommit connection outside one; else the caller's."""
        idle = self._conn.info.transaction_status is TransactionStatus.IDLE
        return self._conn.transaction() if self._conn.autocommit and idle else nullcontext()

    def _copy_new_keys(
        self, series: tuple[str, str], times: "array[int]", data: bytes, binary: bool
    ) -> WriteResult | None:
        """COPY the candles whose keys are not stored; None when the merge must decide."""
        stored = self._stored_times(series, times)
        most = 2 * len(times)  # a sparse batch over a dense range is left to the merge
        if stored is None or len(stored) >= most:
            return None
        if stored and self.on_conflict is OnConflict.UPDATE:
            return None
        if stored == times:  # a re-sent batch: nothing to COPY
            return WriteResult(len(times), 0)
        if stored and binary:  # its rows cannot be picked cheaply
            return None
        new = [True] * len(times)
        if stored:  # the stored times in the span, some perhaps not in the batch
            known = set(stored)
            new = [t not in known for t in times]
            data = _pick_lines(data, new)
        if not self._copy(data, binary, into_table=True):
            return None
        return WriteResult(len(times), sum(new))

    def _copy(self, data: bytes, binary: bool, into_table: bool) -> bool:
        """COPY into the table (inside a savepoint) or the staging table.

        False if a concurrent writer won one of the table's keys.
        """
        if binary:
            data = _BINARY_HEADER + data + _BINARY_TRAILER
        try:
            with (
                self._conn.transaction() if into_table else nullcontext(),
                self._conn.cursor() as cur,
                cur.copy(_COPY_STATEMENTS[into_table, binary]) as copy,
            ):
                copy.write(data)
        except UniqueViolation:  # raised by the table only: the staging table has no keys
            return False
        return True

    def _merge(self, size: int, source: sql.Composable, params: list[Any]) -> WriteResult:
        upsert = self.on_conflict is OnConflict.UPDATE
        with self._conn.cursor() as cur:
            cur.execute((_UPSERT if upsert else INSERT).format(source=source), params)
            if not upsert:
                return WriteResult(size, cur.rowcount)
            added, updated = cur.fetchone() or (0, 0)
            return WriteResult(size, int(added), int(updated))

    def _stage(self, data: bytes, binary: bool) -> None:
        with self._conn.cursor() as cur:
            cur.execute(STAGE)
            if self._staged:
                cur.execute(sql.SQL("TRUNCATE {}").format(STAGING))
        self._copy(data, binary, into_table=False)
        self._staged = True


NOTHING = WriteResult(0, 0)
_PG_EPOCH = 946_684_800_000_000  # 2000-01-01, PostgreSQL's epoch, in microseconds after 1970
_NUMERIC = DecimalBinaryDumper(Decimal).dump
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@cache
def _values_insert(rows: int) -> sql.Composed:
    """INSERT … VALUES with placeholders for `rows` candles, ignoring stored keys."""
    row = sql.SQL("(%s, %s, %s, %s, %s, %s, %s, %s)")
    return sql.SQL(
        'INSERT INTO market_data_candles (symbol, timeframe, "timestamp", open, high, low,'
        ' close, volume) VALUES {rows} ON CONFLICT (symbol, timeframe, "timestamp") DO NOTHING'
    ).format(rows=sql.SQL(", ").join([row] * rows))


def encode(candles: Sequence[Candle], lines: bool = True) -> EncodedBatch:
    """The candles as COPY text lines in batch order (if asked), with their times."""
    times = array("q", [(c.timestamp - _EPOCH) // _MICROSECOND for c in candles])
    series = (candles[0].symbol, candles[0].timeframe) if _one_series(candles) else None
    ascending = _ascending(times)
    text = _copy_text(candles, times).encode() if lines else None
    return EncodedBatch(text, times.tobytes(), series, ascending)


def encode_series(
    series: tuple[str, str],
    times: "array[int]",
    prices: Sequence[Sequence[str]],
    volumes: Sequence[int],
    lines: bool = True,
) -> EncodedBatch:
    """Candles of one series from their columns, as binary COPY rows (if asked).

    `prices` are the open, high, low and close columns as texts that the model accepted,
    `volumes` its integers. ValueError if the symbol is not ASCII; NotPlainDecimalError
    if a price text is not `PLAIN_DECIMAL`, found only when the rows are made (lines).
    """
    if not series[0].isascii():
        raise ValueError("binary COPY rows carry ASCII symbols only")
    data = _binary_rows(series, times, prices, volumes) if lines else None
    ascending = _ascending(times)
    return EncodedBatch(data, times.tobytes(), series, ascending, binary=True)


def _ascending(times: "array[int]") -> bool:
    """Whether the times increase strictly, compared at C speed."""
    return all(map(lt, times, islice(times, 1, None)))


def _binary_rows(
    series: tuple[str, str],
    times: "array[int]",
    prices: Sequence[Sequence[str]],
    volumes: Sequence[int],
) -> bytes:
    """Rows of binary COPY joined column by column, with no Python code run per row."""
    count = len(volumes)
    cells = [b""] * (5 * count)
    head = _row_head(*series)  # then the time and the volume, in one pack per row
    pack = struct.Struct(f">{len(head)}siqiq").pack
    cells[0::5] = map(pack, repeat(head), repeat(8), map(sub, times, repeat(_PG_EPOCH)),
                      repeat(8), volumes)  # fmt: skip
    for column, texts in enumerate(prices, 1):
        cells[column::5] = map(_NUMERICS.__getitem__, texts)
    return b"".join(cells)


def _row_head(symbol: str, timeframe: str) -> bytes:
    """A binary row's field count, then its symbol and timeframe fields."""
    head = struct.pack(">h", 8)
    for text in (symbol.encode(), timeframe.encode()):
        head += struct.pack(">i", len(text)) + text
    return head


def _numeric_field(text: str) -> bytes:
    """The binary COPY field of a plain decimal's text: its length, then the numeric."""
    if not PLAIN_DECIMAL.fullmatch(text):
        raise NotPlainDecimalError(f"price {text!r} is not a plain decimal")
    numeric = bytes(_NUMERIC(Decimal(text)) or b"")
    return struct.pack(">i", len(numeric)) + numeric


_NUMERICS = Memo(_numeric_field, limit=1 << 15)  # a file's prices recur from block to block


def _copy_text(candles: Sequence[Candle], times: "array[int]") -> str:
    """The candles as lines of COPY text."""
    escaped = {s: s.replace("\\", "\\\\") for s in {c.symbol for c in candles}}
    return "".join([  # !s: str() of a Decimal is several times faster than its format()
        f"{escaped[c.symbol]}\t{c.timeframe}\t{t}\t{c.open!s}\t{c.high!s}\t"
        f"{c.low!s}\t{c.close!s}\t{c.volume}\n"
        for c, t in zip(candles, _utc_texts(times), strict=True)
    ])  # fmt: skip


def _utc_texts(times: "array[int]") -> Iterator[str]:
    """Instants as timestamptz text, e.g. 2024-01-02 03:04:05+00, whole seconds at C speed."""
    if any(map(mod, times, repeat(1_000_000))):
        return map(_utc_text, times)
    seconds = list(map(floordiv, times, repeat(1_000_000)))
    days = map(_DAYS.__getitem__, map(floordiv, seconds, repeat(86_400)))
    return map(add, days, map(_CLOCK.__getitem__, map(mod, seconds, repeat(86_400))))


def _utc_text(micros: int) -> str:
    """An instant as timestamptz text, e.g. 2024-01-02 03:04:05.000006+00."""
    seconds, fraction = divmod(micros, 1_000_000)
    day, second = divmod(seconds, 86_400)
    text = _DAYS[day] + _CLOCK[second]
    return f"{text[:-3]}.{fraction:06d}+00" if fraction else text


def _day_text(day: int) -> str:
    """The date `day` days after 1970-01-01 and a space."""
    return f"{date(1970, 1, 1) + timedelta(days=day)} "


def _clock_text(second: int) -> str:
    """The time of day `second` seconds after midnight and +00."""
    minute, second_ = divmod(second, 60)
    return f"{minute // 60:02d}:{minute % 60:02d}:{second_:02d}+00"


_DAYS, _CLOCK = Memo(_day_text), Memo(_clock_text)  # each text made once


def _instant(micros: int) -> datetime:
    """The aware UTC datetime of epoch microseconds."""
    return _EPOCH + timedelta(microseconds=micros)


def _pick_lines(lines: bytes, keep: list[bool]) -> bytes:
    """The lines whose flag is set."""
    return b"".join(line + b"\n" for line in compress(lines.split(b"\n"), keep))


def _one_series(candles: Sequence[Candle]) -> bool:
    """Whether every candle has the first one's symbol and timeframe (none: False)."""
    if not candles:
        return False
    first = candles[0]
    return all(c.symbol == first.symbol and c.timeframe == first.timeframe for c in candles)


def _values(c: Candle) -> tuple[Any, ...]:
    """A candle's eight column values."""
    return (c.symbol, c.timeframe, c.timestamp, c.open, c.high, c.low, c.close, c.volume)


def _columns(candles: Sequence[Candle]) -> list[Any]:
    """The candles as eight parallel arrays, one per column."""
    return [list(column) for column in zip(*map(_values, candles), strict=True)]
