"""MT5 and MT4 history files: what their names say, their encodings and their columns."""

import codecs
import io
import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import BinaryIO, Literal, cast

from candlesvc.model.candle import TIMEFRAMES

MT4_PERIODS = {
    "1": "M1",
    "5": "M5",
    "15": "M15",
    "30": "M30",
    "60": "H1",
    "240": "H4",
    "1440": "D1",
    "10080": "W1",
    "43200": "MN1",
}
_MT5_NAME = re.compile(rf"^(.+)_({'|'.join(TIMEFRAMES)})(?:_\d{{8,12}}){{0,2}}$", re.I)
_MT4_NAME = re.compile(rf"^(.+?)({'|'.join(MT4_PERIODS)})$")
_MT4_ROW = re.compile(r"^\d{4}\.\d\d\.\d\d,\d\d:\d\d(?::\d\d)?(?:,[^,]*){5}$")
MT4_COLUMNS = ("DATE", "TIME", "OPEN", "HIGH", "LOW", "CLOSE", "VOLUME")
_PRICES = ("OPEN", "HIGH", "LOW", "CLOSE")
VolumeKind = Literal["tick", "real"]
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


class FormatError(ValueError):
    """The file is not an MT5 or MT4 history export; the message says why."""


@dataclass(frozen=True)
class NameHints:
    """The symbol and timeframe a file's name gives, where it gives them."""

    symbol: str | None = None
    timeframe: str | None = None


def hints_from_name(name: str) -> NameHints:
    """Read SYMBOL_TF_start_end.csv (MT5) or SYMBOLminutes.csv (MT4)."""
    stem = PurePath(name).stem
    mt5 = _MT5_NAME.match(stem)
    if mt5:
        return NameHints(mt5[1], mt5[2].upper())
    mt4 = _MT4_NAME.match(stem)
    if mt4:
        return NameHints(mt4[1], MT4_PERIODS[mt4[2]])
    return NameHints()


def open_text(binary: BinaryIO) -> io.TextIOWrapper:
    """Wrap a binary stream as text, choosing the encoding from its BOM (UTF-8 otherwise)."""
    if isinstance(binary, io.BufferedReader):
        buffered = binary
    else:
        buffered = io.BufferedReader(cast(io.RawIOBase, binary))
    head = buffered.peek(4)[:4]
    bom, encoding = next(((b, e) for b, e in _BOMS if head.startswith(b)), (b"", "utf-8"))
    buffered.read(len(bom))
    return io.TextIOWrapper(buffered, encoding=encoding, errors="replace", newline=None)


@dataclass(frozen=True)
class Layout:
    """Where each column sits in a file's rows, and whether a header line precedes them."""

    kind: str
    separator: str
    columns: tuple[str, ...]
    has_header: bool

    def find(self, name: str) -> int | None:
        """The position of a column, or None when the file lacks it."""
        return self.columns.index(name) if name in self.columns else None

    def label(self, position: int) -> str:
        """How an error names a column: its number and its name."""
        return f"column {position + 1} ({self.columns[position]})"


def detect_layout(first_line: str) -> Layout:
    """Recognise an MT5 bracketed header or an MT4 header-less row."""
    line = first_line.strip()
    if line.startswith("<"):
        return _mt5_layout(line)
    if _MT4_ROW.match(line):
        return Layout("MT4", ",", MT4_COLUMNS, has_header=False)
    raise FormatError(
        "not an MT5 or MT4 export: expected a header like <DATE> <TIME> <OPEN> ... "
        "or MT4 rows like 2018.01.31,17:00,1.2458,1.2465,1.2454,1.2459,2869"
    )


def _mt5_layout(header: str) -> Layout:
    """Read the columns of an MT5 header (tab- or comma-separated)."""
    separator = "\t" if "\t" in header else ","
    columns = tuple(name.strip().strip("<>").upper() for name in header.split(separator))
    missing = [name for name in ("DATE", "OPEN", "HIGH", "LOW", "CLOSE") if name not in columns]
    if missing:
        raise FormatError(f"MT5 header lacks {', '.join(f'<{m}>' for m in missing)}")
    return Layout("MT5", separator, columns, has_header=True)


@dataclass(frozen=True)
class Columns:
    """Where the columns the importer reads sit in a file's rows."""

    layout: Layout
    date: int
    time: int | None
    prices: tuple[int, ...]
    volume: int

    @classmethod
    def of(cls, layout: Layout, volume: VolumeKind) -> "Columns":
        """Locate the columns, refusing a volume kind the file does not carry."""
        wanted = {"tick": ("TICKVOL", "VOLUME"), "real": ("VOL",)}[volume]
        found = [p for p in map(layout.find, wanted) if p is not None]
        if not found:
            raise FormatError(f"this {layout.kind} file has no {volume} volume column")
        date, *prices = (layout.columns.index(n) for n in ("DATE", *_PRICES))
        return cls(layout, date, layout.find("TIME"), tuple(prices), found[0])

    def blamed_for(self, model_field: str) -> str:
        """The file column an error in a model field points at."""
        if model_field == "volume":
            return self.layout.label(self.volume)
        if model_field.upper() in _PRICES:
            return self.layout.label(self.prices[_PRICES.index(model_field.upper())])
        if model_field == "timestamp":
            return self.layout.label(self.date if self.time is None else self.time)
        return "/".join(_PRICES)
