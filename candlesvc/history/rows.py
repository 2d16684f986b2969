"""The rows of a history file: blocks of lines, parsed and validated into encoded chunks.

`read_blocks` runs where the file is read; `parse_block` may run in a worker process:
it validates each row with the shared model and has the writer encode the candles.
"""

from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from io import TextIOWrapper
from itertools import islice, repeat
from operator import add
from typing import Any, BinaryIO

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ArgsKwargs

from candlesvc.history.clock import WallClock
from candlesvc.history.files import Columns, FormatError, VolumeKind, detect_layout, open_text
from candlesvc.model.candle import Candle, Symbol, TimeframeName
from candlesvc.model.memo import Memo
from candlesvc.model.timezones import ClockState, SourceZone
from candlesvc.store.encoding import (
    PLAIN_DECIMAL,
    EncodedBatch,
    NotPlainDecimalError,
    encode,
    encode_series,
)

MAX_PROBLEMS = 10
FIRST_BLOCK = 1_000  # lines; the first blocks grow from this to the chunk size
_CANDLES = TypeAdapter(list[Candle])
_SYMBOL = TypeAdapter(Symbol)
_TIMEFRAME = TypeAdapter(TimeframeName)


@dataclass(frozen=True)
class ImportSpec:
    """What all rows of one file share: symbol, timeframe, clock, volume column, chunk size."""

    symbol: str
    timeframe: str
    zone: SourceZone
    volume: VolumeKind = "tick"
    chunk_size: int = 20_000

    def __post_init__(self) -> None:
        """Check the symbol and timeframe once per file, with the model's own types."""
        try:
            _SYMBOL.validate_python(self.symbol)
        except ValidationError:
            raise ValueError(f"invalid symbol {self.symbol!r}") from None
        try:
            object.__setattr__(self, "timeframe", _TIMEFRAME.validate_python(self.timeframe))
        except ValidationError:
            raise ValueError(f"unknown timeframe {self.timeframe!r}") from None


@dataclass(frozen=True)
class Problem:
    """Why one row of a file is invalid."""

    line: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.column}: {self.reason}"


@dataclass
class Chunk:
    """Consecutive rows of a file: their encoded candles (none if any row is invalid)."""

    rows: int = 0
    invalid: int = 0
    batch: EncodedBatch | None = None
    problems: list[Problem] = field(default_factory=list)
    position: int | None = None
    clock: ClockState = None  # where these rows left the file's clock; None: not moved
    clock_sensitive: bool = False  # whether the clock's state before them mattered
    reread: Callable[[], "Chunk"] | None = None  # the rows parsed again, with COPY data


@dataclass(frozen=True)
class Block:
    """Consecutive lines of a file as one text, the number of the first, and where they end."""

    columns: Columns
    start: int
    text: str  # whole lines, each ending in a newline but perhaps the file's last
    position: int | None

    def lines(self) -> list[str]:
        """The block's lines, without their newlines."""
        return self.text.removesuffix("\n").split("\n")


def read_blocks(binary: BinaryIO, spec: ImportSpec) -> Generator[Block, None, None]:
    """Detect the file's format and yield its rows in blocks of up to `spec.chunk_size` lines."""
    text = open_text(binary)
    try:
        yield from _blocks(text, spec, binary)
    finally:
        text.detach()  # the binary stream stays open for its owner to close


def _blocks(text: TextIOWrapper, spec: ImportSpec, binary: BinaryIO) -> Iterator[Block]:
    """The blocks of a text stream, after its first line has told its format."""
    number, first = next(((n, line) for n, line in enumerate(text, 1) if line.strip()), (0, ""))
    if not number:
        raise FormatError("the file is empty")
    layout = detect_layout(first)
    columns = Columns.of(layout, spec.volume)
    start, pending = (number + 1, []) if layout.has_header else (number, [first])
    for size in _block_sizes(spec.chunk_size):
        pending += islice(text, size - len(pending))
        if not pending:
            return
        yield Block(columns, start, "".join(pending), _tell(binary))
        start, pending = start + len(pending), []


def _block_sizes(chunk_size: int) -> Iterator[int]:
    """Lines per block: FIRST_BLOCK, doubling up to chunk_size, so that writing starts early."""
    size = FIRST_BLOCK
    while size < chunk_size:
        yield size
        size *= 2
    yield from repeat(chunk_size)


def parse_block(
    block: Block, spec: ImportSpec, clock: ClockState = None, lines: bool = True
) -> Chunk:
    """Parse and validate a block's rows, starting from the file's clock state given.

    Without lines, the chunk's batch has only the candles' times, no COPY data: enough to
    count rows already stored, or to validate a file without writing it.
    """
    batch = _read_at_once(block, spec, lines)
    if batch is not None:
        return Chunk(rows=batch.size, batch=batch, position=block.position)
    return _read_row_by_row(block, spec, clock, lines)


def _read_row_by_row(block: Block, spec: ImportSpec, clock: ClockState, lines: bool) -> Chunk:
    """Parse and validate a block's rows one at a time, saying which are invalid and why."""
    wall_clock = WallClock(spec.zone, clock)
    numbered = enumerate(block.lines(), block.start)
    batch = _parse(numbered, block.columns, wall_clock, spec)
    chunk = _validate(batch, block.columns, lines)
    chunk.position = block.position
    chunk.clock = wall_clock.previous if wall_clock.resolved else None
    chunk.clock_sensitive = wall_clock.depends_on_start
    return chunk


def _read_at_once(block: Block, spec: ImportSpec, lines: bool = True) -> EncodedBatch | None:
    """The block's candles, encoded, if every row is well formed and valid; None: row by row.

    Column by column, with no Python code run per row: most blocks take this path, and
    the row-by-row parse explains whatever it refuses. Days with a DST change are read
    row by row, in file order. The model validates the candles; the writer encodes them
    from the block's own columns when their texts are plain decimals and the symbol ASCII.
    """
    columns, separator = block.columns, block.columns.layout.separator
    width, text = len(columns.layout.columns), block.text.removesuffix("\n")
    fields = text.replace("\n", separator).split(separator)
    # Rows too long and too short in balance would pass this count, but would shift the
    # rows between them, so that another column's text lands in the date column: refused.
    if len(fields) != width * (text.count("\n") + 1):
        return None
    clock, dates = WallClock(spec.zone), fields[columns.date :: width]
    try:
        days = list(map(clock.days.__getitem__, dates))
        if any(day.tzinfo is None for day in clock.days.values()):
            return None
        times = (
            repeat(clock.times[""])
            if columns.time is None
            else map(clock.times.__getitem__, fields[columns.time :: width])
        )
        open_, high, low, close = (
            map(_PRICES.__getitem__, fields[column::width]) for column in columns.prices
        )
        volumes = list(map(int, fields[columns.volume :: width]))
        values = zip(
            repeat(spec.symbol),
            repeat(spec.timeframe),
            map(add, days, times),
            open_,
            high,
            low,
            close,
            volumes,
        )
        candles = _CANDLES.validate_python(list(map(ArgsKwargs, values)))
    except (ValueError, ValidationError):
        return None
    if not spec.symbol.isascii():
        return encode(candles, lines)  # binary rows carry ASCII symbols only
    times_of_day = repeat("") if columns.time is None else fields[columns.time :: width]
    micros = clock.epoch_micros(dates, times_of_day)
    texts = [fields[column::width] for column in columns.prices]
    try:
        return encode_series((spec.symbol, spec.timeframe), micros, texts, volumes, lines)
    except NotPlainDecimalError:  # some price is the model's reading of another text
        return encode(candles, lines)


@dataclass
class _Batch:
    """A chunk being parsed: candle dicts, the line each came from, and rejected rows."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    invalid: int = 0
    problems: list[Problem] = field(default_factory=list)

    def reject(self, line: int, column: str, reason: str) -> None:
        """Record an invalid row."""
        self.invalid += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(line, column, reason))


def _parse(
    lines: Iterable[tuple[int, str]], columns: Columns, clock: WallClock, spec: ImportSpec
) -> _Batch:
    """Split rows into fields and build candle dicts.

    This is the hot loop, kept in one function with local names: a call per row would
    cost more than the rest of the row's parsing.
    """
    separator, width, label = (
        columns.layout.separator,
        len(columns.layout.columns),
        columns.layout.label,
    )
    date, time, (open_, high, low, close), volume = (
        columns.date,
        columns.time,
        columns.prices,
        columns.volume,
    )
    days, times, resolve, prices = clock.days, clock.times, clock.resolve, _PRICES
    symbol, timeframe = spec.symbol, spec.timeframe
    batch = _Batch()
    for number, line in lines:
        fields = line.split(separator)
        if len(fields) != width:
            if line.strip():
                batch.reject(number, "row", f"expected {width} columns, found {len(fields)}")
            continue
        try:
            stamp = days[fields[date]] + times[fields[time] if time is not None else ""]
            if stamp.tzinfo is None:
                stamp = resolve(stamp)
        except ValueError as error:
            batch.reject(number, _stamp_column(columns, fields, clock), str(error))
            continue
        try:
            count = int(fields[volume])
        except ValueError:
            batch.reject(number, label(volume), "volume must be an integer")
            continue
        batch.rows.append(
            {
                "symbol": symbol,
                "timeframe": timeframe,
                "timestamp": stamp,
                "open": prices[fields[open_]],
                "high": prices[fields[high]],
                "low": prices[fields[low]],
                "close": prices[fields[close]],
                "volume": count,
            }
        )
        batch.lines.append(number)
    return batch


def _price(text: str) -> Decimal | str:
    """A plain decimal as a Decimal; anything else as it is, for the model to judge."""
    return Decimal(text) if PLAIN_DECIMAL.fullmatch(text) else text


_PRICES = Memo(_price, limit=1 << 15)  # a file's prices recur from block to block


def _stamp_column(columns: Columns, fields: list[str], clock: WallClock) -> str:
    """The column to blame for a row whose date or time cannot be read."""
    if columns.time is None or fields[columns.date] not in clock.days:
        return columns.layout.label(columns.date)
    return columns.layout.label(columns.time)


def _validate(batch: _Batch, columns: Columns, lines: bool) -> Chunk:
    """Build the batch's candles with the shared model, or say which rows it refuses."""
    chunk = Chunk(rows=len(batch.lines) + batch.invalid, invalid=batch.invalid)
    try:
        candles = _CANDLES.validate_python(batch.rows)
    except ValidationError as error:
        candles = []
        chunk.invalid += _add_model_problems(error, batch, columns)
    chunk.batch = None if chunk.invalid or not candles else encode(candles, lines)
    chunk.problems = sorted(batch.problems, key=lambda p: p.line)[:MAX_PROBLEMS]
    return chunk


def _add_model_problems(error: ValidationError, batch: _Batch, columns: Columns) -> int:
    """Add the model's complaints to the batch's problems; return how many rows it refused.

    Complaints about a whole row ("low must be <= ...") blame the column they start with.
    """
    refused = set()
    for item in error.errors(include_url=False):
        index, *where = item["loc"]
        refused.add(index)
        reason = item["msg"].removeprefix("Value error, ")
        column = columns.blamed_for(str(where[0]) if where else reason.partition(" ")[0])
        batch.problems.append(Problem(batch.lines[int(index)], column, reason))
    return len(refused)


def _tell(binary: BinaryIO) -> int | None:
    """Bytes consumed so far from the stream, when it can say."""
    try:
        position = binary.tell()
    except (OSError, ValueError):
        return None
    return position
