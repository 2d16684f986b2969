"""`candlesvc import`: the command and its options; `importing` does the work."""

from enum import StrEnum
from typing import Annotated, Any

import typer

from candlesvc.history import forkserver


class VolumeChoice(StrEnum):
    """Which MT5 volume column to store."""

    tick = "tick"
    real = "real"


class ConflictChoice(StrEnum):
    """What to do with a row whose key is stored already."""

    ignore = "ignore"
    update = "update"


def _option(*names: str, **kwargs: Any) -> Any:
    """A typer option whose default lives in the signature."""
    return typer.Option(*names, show_default=kwargs.pop("show_default", True), **kwargs)


Files = Annotated[list[str], typer.Argument(help="History files; - reads standard input.")]
SymbolName = Annotated[
    str | None, _option(help="Symbol of all the files (default: from each file's name)")
]
TimeframeName = Annotated[
    str | None, _option(help="Timeframe of all the files, e.g. H1 (default: from each name)")
]
ZoneName = Annotated[
    str,
    _option(
        "--tz",
        help="Broker server time zone of the times in the files: an IANA "
        "name, an offset like +02:00, or NY+7 (New York + 7 h).",
    ),
]
Volume = Annotated[
    VolumeChoice, _option(help="MT5 volume to store: tick (<TICKVOL>) or real (<VOL>).")
]
DryRun = Annotated[
    bool, _option("--dry-run", help="Read and validate everything, write nothing (no database).")
]
Atomic = Annotated[
    bool,
    _option(
        help="One transaction per file. --no-atomic commits chunk by chunk and keeps the "
        "chunks committed before a failure."
    ),
]
ChunkSize = Annotated[int, _option(min=1, help="Rows per database write.")]
Jobs = Annotated[
    int | None,
    _option(
        "--jobs",
        "-j",
        min=1,
        max=64,
        show_default=False,
        help="Processes that parse and validate (1: this one). Default: one per core, "
        "at most 8, for files of 8 MiB or more, else 1.",
    ),
]
Conflict = Annotated[
    ConflictChoice,
    _option(
        "--on-conflict",
        help="ignore: keep stored bars; update: replace stored bars whose "
        "values differ (the last row of a key wins).",
    ),
]
Quiet = Annotated[
    bool, _option("--quiet", "-q", help="Print errors only: no progress, no summary.")
]
AsJson = Annotated[bool, _option("--json", help="Print the summary as JSON on standard output.")]
OptionalUrl = Annotated[
    str | None,
    _option("--database-url", envvar="DATABASE_URL", help="PostgreSQL URL.", show_default=False),
]


def import_files(
    files: Files,
    symbol: SymbolName = None,
    timeframe: TimeframeName = None,
    tz: ZoneName = "UTC",
    volume: Volume = VolumeChoice.tick,
    dry_run: DryRun = False,
    atomic: Atomic = True,
    chunk_size: ChunkSize = 20_000,
    jobs: Jobs = None,
    on_conflict: Conflict = ConflictChoice.ignore,
    quiet: Quiet = False,
    as_json: AsJson = False,
    database_url: OptionalUrl = None,
) -> None:
    """Import MT5 "Export bars" files and MT4 History Center exports.

    Example: candlesvc import EURUSD_M1_202301020000_202312292359.csv --tz NY+7

    The format (MT5 with a <DATE> <TIME> ... header, or MT4 without one),
    the encoding (UTF-8, UTF-16 with BOM) and the line endings are detected.
    Symbol and timeframe come from names like EURUSD_M1_<start>_<end>.csv
    or EURUSD60.csv (MT4: minutes); --symbol and --timeframe override them.

    Each file is one transaction: if any row is invalid, its first problems
    are listed with line and column, and nothing from that file is stored.
    Rows already stored count as duplicates: importing again adds nothing.

    Times are the broker's wall clock in --tz. Where a DST change repeats an
    hour, rows are read in file order: the first pass is the earlier instant,
    rows after the clock goes back the later one. A time that a DST change
    skips is an invalid row.

    Exit codes:
    0 success;
    1 invalid input (a row, a file's format);
    2 usage error (an option, a file name giving no symbol or timeframe,
      no DATABASE_URL);
    3 database unreachable or failed (the file in progress is rolled back);
    4 missing or unreadable file;
    5 a worker process died (out of memory?): the file is rolled back;
    130 interrupted.
    """
    forkserver.start()  # its workers load the parsing code while this process loads it too
    from . import importing  # only now: the parsing code is heavy to load

    importing.run(
        files,
        symbol,
        timeframe,
        tz,
        volume.value,
        dry_run,
        atomic,
        chunk_size,
        jobs,
        on_conflict.value,
        quiet,
        as_json,
        database_url,
    )
