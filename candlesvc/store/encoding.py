"""Candles as COPY data: text rows from candles, binary rows from an importer's columns.

Text is always UTF-8, whatever the connection's client encoding; binary rows, whose text
fields PostgreSQL reads in that encoding, carry ASCII symbols only. Either way a batch
keeps its times as epoch microseconds, for the writer's choice of path.
"""

import re
import struct
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import islice, repeat
from operator import add, floordiv, lt, mod, sub

from psycopg.types.numeric import DecimalBinaryDumper

from candlesvc.model.candle import Candle
from candlesvc.model.memo import Memo

PLAIN_DECIMAL = re.compile(r"-?\d{1,20}(?:\.\d{1,20})?")  # price texts binary rows take as they are
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, no flags, no extension
BINARY_TRAILER = b"\xff\xff"


class NotPlainDecimalError(ValueError):
    """A price text that binary rows cannot take as it is: the model read it, not Decimal."""


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

    def instants(self) -> "array[int]":
        """The candles' times, in epoch microseconds."""
        return array("q", self.times)

    def copy_data(self) -> bytes:
        """What COPY … FROM STDIN reads: the rows, framed as their format requires."""
        if self.data is None:
            raise ValueError("a batch without data can only be counted as stored")
        return BINARY_HEADER + self.data + BINARY_TRAILER if self.binary else self.data


_PG_EPOCH = 946_684_800_000_000  # 2000-01-01, PostgreSQL's epoch, in microseconds after 1970
_NUMERIC = DecimalBinaryDumper(Decimal).dump
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


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
    cells[0::5] = map(
        pack, repeat(head), repeat(8), map(sub, times, repeat(_PG_EPOCH)), repeat(8), volumes
    )
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
    return "".join(
        [  # !s: str() of a Decimal is several times faster than its format()
            f"{escaped[c.symbol]}\t{c.timeframe}\t{t}\t{c.open!s}\t{c.high!s}\t"
            f"{c.low!s}\t{c.close!s}\t{c.volume}\n"
            for c, t in zip(candles, _utc_texts(times), strict=True)
        ]
    )


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


def _one_series(candles: Sequence[Candle]) -> bool:
    """Whether every candle has the first one's symbol and timeframe (none: False)."""
    if not candles:
        return False
    first = candles[0]
    return all(c.symbol == first.symbol and c.timeframe == first.timeframe for c in candles)
