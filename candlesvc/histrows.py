"""The rows of a history file as chunks of candles validated by the shared model."""

import itertools
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from io import TextIOWrapper
from typing import Any, BinaryIO

from pydantic import TypeAdapter, ValidationError

from candlesvc.histclock import WallClock
from candlesvc.histfiles import Columns, FormatError, VolumeKind, detect_layout, open_text
from candlesvc.models import Candle, Symbol, TimeframeName
from candlesvc.timezones import SourceZone

MAX_PROBLEMS = 10
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
    """Consecutive rows of a file: their candles (none when any row is invalid) and problems."""

    rows: int = 0
    invalid: int = 0
    candles: list[Candle] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    position: int | None = None


def read_chunks(binary: BinaryIO, spec: ImportSpec) -> Generator[Chunk, None, None]:
    """Detect the file's format and yield its rows as validated chunks."""
    text = open_text(binary)
    try:
        yield from _chunks(text, spec, binary)
    finally:
        text.detach()  # the binary stream stays open for its owner to close


def _chunks(text: TextIOWrapper, spec: ImportSpec, binary: BinaryIO) -> Iterator[Chunk]:
    """The chunks of a text stream, after its first line has told its format."""
    lines: Iterator[tuple[int, str]] = enumerate(text, 1)
    number, first = next(((n, line) for n, line in lines if line.strip()), (0, ""))
    if not number:
        raise FormatError("the file is empty")
    layout = detect_layout(first)
    if not layout.has_header:
        lines = itertools.chain([(number, first)], lines)
    columns = Columns.of(layout, spec.volume)
    for batch in _parse(lines, columns, WallClock(spec.zone), spec):
        chunk = _validate(batch, columns)
        chunk.position = _tell(binary)
        yield chunk


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
    lines: Iterator[tuple[int, str]], columns: Columns, clock: WallClock, spec: ImportSpec
) -> Iterator[_Batch]:
    """Split rows into fields and build candle dicts, chunk by chunk.

    This is the hot loop, kept in one function with local names: a call per row would
    cost more than the rest of the row's parsing.
    """
    separator, width, label = (
        columns.layout.separator, len(columns.layout.columns), columns.layout.label)  # fmt: skip
    date, time, (open_, high, low, close), volume = (
        columns.date, columns.time, columns.prices, columns.volume)  # fmt: skip
    days, times, resolve = clock.days, clock.times, clock.resolve
    symbol, timeframe, size = spec.symbol, spec.timeframe, spec.chunk_size
    batch, room = _Batch(), size
    for number, line in lines:
        if not room:
            yield batch
            batch, room = _Batch(), size
        fields = line.rstrip("\n").split(separator)
        if len(fields) != width:
            if line.strip():
                room -= 1
                batch.reject(number, "row", f"expected {width} columns, found {len(fields)}")
            continue
        room -= 1
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
        batch.rows.append({
            "symbol": symbol, "timeframe": timeframe, "timestamp": stamp,
            "open": fields[open_], "high": fields[high], "low": fields[low],
            "close": fields[close], "volume": count,
        })  # fmt: skip
        batch.lines.append(number)
    if room < size:
        yield batch


def _stamp_column(columns: Columns, fields: list[str], clock: WallClock) -> str:
    """The column to blame for a row whose date or time cannot be read."""
    if columns.time is None or fields[columns.date] not in clock.days:
        return columns.layout.label(columns.date)
    return columns.layout.label(columns.time)


def _validate(batch: _Batch, columns: Columns) -> Chunk:
    """Build the batch's candles with the shared model, or say which rows it refuses."""
    chunk = Chunk(rows=len(batch.lines) + batch.invalid, invalid=batch.invalid)
    try:
        candles = _CANDLES.validate_python(batch.rows)
    except ValidationError as error:
        candles = []
        chunk.invalid += _add_model_problems(error, batch, columns)
    chunk.candles = [] if chunk.invalid else candles
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
