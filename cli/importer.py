"""`candlesvc import`: load MT5 and MT4 history files through the shared model and writer."""

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from candlesvc.history.files import NameHints, VolumeKind, hints_from_name
from candlesvc.history.importer import (
    STDIN,
    FilePlan,
    FileReport,
    ImportAbortedError,
    OnChunk,
    WorkerFailedError,
    collect_less,
    import_file,
    no_hook,
)
from candlesvc.history.rows import Chunk, ImportSpec
from candlesvc.model.timezones import SourceZone, parse_zone
from candlesvc.store.writer import OnConflict

from .common import EXIT_DATABASE, EXIT_USAGE, error_line, fail

EXIT_INVALID = 1
EXIT_MISSING = 4
EXIT_WORKER = 5
EXIT_INTERRUPTED = 130
_stderr = Console(stderr=True, highlight=False)


class VolumeChoice(StrEnum):
    """Which MT5 volume column to store."""

    tick = "tick"
    real = "real"


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
    _option("--tz", help="Broker server time zone of the times in the files: an IANA "
            "name, an offset like +02:00, or NY+7 (New York + 7 h)."),
]  # fmt: skip
Volume = Annotated[
    VolumeChoice, _option(help="MT5 volume to store: tick (<TICKVOL>) or real (<VOL>).")
]
DryRun = Annotated[
    bool, _option("--dry-run", help="Read and validate everything, write nothing (no database).")
]
Atomic = Annotated[
    bool,
    _option(help="One transaction per file. --no-atomic commits chunk by chunk and keeps the "
            "chunks committed before a failure."),
]  # fmt: skip
ChunkSize = Annotated[int, _option(min=1, help="Rows per database write.")]
Jobs = Annotated[
    int | None,
    _option("--jobs", "-j", min=1, max=64, show_default=False,
            help="Processes that parse and validate (1: this one). Default: one per core, "
            "at most 8, for files of 8 MiB or more, else 1."),
]  # fmt: skip
Conflict = Annotated[
    OnConflict,
    _option("--on-conflict", help="ignore: keep stored bars; update: replace stored bars whose "
            "values differ (the last row of a key wins)."),
]  # fmt: skip
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
    on_conflict: Conflict = OnConflict.IGNORE,
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
    zone = _zone(tz)
    url = None if dry_run else _required(database_url)
    for name in files:
        if name != STDIN and not Path(name).is_file():
            fail(f"{name}: no such file", code=EXIT_MISSING)
    plans = [
        _plan(name, symbol, timeframe, zone, volume, chunk_size, on_conflict, jobs)
        for name in files
    ]
    with _fewer_collections():
        reports, abort = _run(plans, url, atomic, not (quiet or as_json) and _stderr.is_terminal)
    _report(reports, quiet, as_json, dry_run)
    if abort:
        fail(*abort)
    if any(report.status == "invalid" for report in reports):
        raise typer.Exit(EXIT_INVALID)


def _zone(text: str) -> SourceZone:
    """The --tz option, or a usage error."""
    try:
        return parse_zone(text)
    except ValueError as error:
        fail(f"--tz: {error}", code=EXIT_USAGE)


def _required(database_url: str | None) -> str:
    """The database URL, or a usage error."""
    if not database_url:
        fail("DATABASE_URL is not set: set it, pass --database-url, or use --dry-run", EXIT_USAGE)
    return database_url


def _plan(name: str, symbol: str | None, timeframe: str | None, zone: SourceZone,
          volume: VolumeChoice, chunk_size: int, on_conflict: OnConflict,
          jobs: int | None) -> FilePlan:  # fmt: skip
    """What a file's rows share, from the options and the file's name."""
    hints = hints_from_name(name) if name != STDIN else NameHints()
    symbol, timeframe = symbol or hints.symbol, timeframe or hints.timeframe
    for value, option in ((symbol, "symbol"), (timeframe, "timeframe")):
        if not value:
            fail(f"{name}: the file name gives no {option}; pass --{option}", EXIT_USAGE)
    try:
        kind: VolumeKind = "real" if volume is VolumeChoice.real else "tick"
        spec = ImportSpec(str(symbol), str(timeframe), zone, kind, chunk_size)
        return FilePlan(name, spec, on_conflict, jobs)
    except ValueError as error:
        fail(f"{name}: {error}", EXIT_USAGE)


def _run(
    plans: list[FilePlan], url: str | None, atomic: bool, show_progress: bool
) -> tuple[list[FileReport], tuple[str, int] | None]:
    """Import the files in turn; stop at a database failure, a read error or Ctrl-C."""
    reports: list[FileReport] = []
    with _progress(show_progress) as progress:
        for plan in plans:
            try:
                reports.append(import_file(plan, url, atomic, _tracker(progress, plan)))
            except ImportAbortedError as error:
                return reports, (str(error), EXIT_DATABASE)
            except WorkerFailedError as error:
                kept = "" if atomic else " (chunks already committed are kept)"
                return reports, (f"{plan.name}: {error}; it was not stored{kept}", EXIT_WORKER)
            except OSError as error:
                return reports, (f"cannot read {plan.name}: {error}", EXIT_MISSING)
            except KeyboardInterrupt:
                kept = "" if atomic else " (chunks already committed are kept)"
                return reports, (f"interrupted: {plan.name} was not stored{kept}", EXIT_INTERRUPTED)
    return reports, None


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Collect garbage less often while importing, then as before."""
    threshold = gc.get_threshold()
    collect_less()
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    """A progress display on the terminal, or none."""
    if not enabled:
        yield None
        return
    name = TextColumn("{task.description}", markup=False)  # a file name, printed as it is
    columns = (name, BarColumn(), DownloadColumn(), _RowsColumn(), TimeRemainingColumn())
    with Progress(*columns, console=_stderr, transient=True) as progress:
        yield progress


class _RowsColumn(ProgressColumn):
    """Rows read so far and rows per second."""

    def render(self, task: Task) -> Text:
        """Render the row count and rate."""
        rows = int(task.fields.get("rows", 0))
        rate = rows / task.elapsed if task.elapsed else 0.0
        return Text(f"{rows:,} rows {rate:,.0f} rows/s", style="progress.data.speed")


def _tracker(progress: Progress | None, plan: FilePlan) -> OnChunk:
    """A hook that moves the file's progress bar after each chunk."""
    if progress is None:
        return no_hook
    total = None if plan.name == STDIN else Path(plan.name).stat().st_size
    task = progress.add_task(Path(plan.name).name, total=total, rows=0)

    def advance(report: FileReport, chunk: Chunk) -> None:
        progress.update(task, completed=chunk.position or 0, rows=report.rows)

    return advance


def _report(reports: list[FileReport], quiet: bool, as_json: bool, dry_run: bool) -> None:
    """Explain failed files on stderr, then print the summary."""
    for report in reports:
        _explain(report, dry_run)
    if as_json:
        print(json.dumps({"dry_run": dry_run, "files": [_as_dict(r) for r in reports]}))
    elif not quiet:
        console = Console(highlight=False)
        if not console.is_terminal:
            console.width = 200
        console.print(_table(reports, dry_run))


def _explain(report: FileReport, dry_run: bool) -> None:
    """One line per failed file, then its first problems."""
    if report.error:
        _stderr.print(error_line(f"{report.file}: {report.error}"), soft_wrap=True)
    elif report.invalid:
        stored = f"{report.added:,} rows stored before it" if report.added else "nothing stored"
        outcome = "nothing would be stored" if dry_run else stored
        rows = "row" if report.invalid == 1 else "rows"
        line = error_line(f"{report.file}: {report.invalid:,} invalid {rows}; {outcome}")
        _stderr.print(line, soft_wrap=True)
        for problem in report.problems:
            _stderr.print(f"  {report.file}, {problem}", soft_wrap=True, markup=False)


def _as_dict(report: FileReport) -> dict[str, Any]:
    """A report for --json."""
    data = asdict(report)
    data["rows_per_second"] = round(report.rate)
    data["seconds"] = round(report.seconds, 3)
    return data


def _table(reports: list[FileReport], dry_run: bool) -> Table:
    """The summary: one row per file."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("file", overflow="fold")
    updates = any(r.updated for r in reports)
    headings = ("read", "added", *(("updated",) if updates else ()), "duplicates", "invalid",
                "seconds", "rows/s")  # fmt: skip
    for heading in headings:
        table.add_column(heading, justify="right", no_wrap=True)
    for r in reports:
        counts = (r.added, *((r.updated,) if updates else ()), r.duplicates)
        written = ("-",) * len(counts) if dry_run else tuple(f"{n:,}" for n in counts)
        about = Text.assemble(r.file, "\n", (f"{r.symbol} {r.timeframe}", "dim"), _note(r))
        table.add_row(about, f"{r.rows:,}", *written, f"{r.invalid:,}", f"{r.seconds:.2f}",
                      f"{r.rate:,.0f}")  # fmt: skip
    return table


def _note(report: FileReport) -> Text:
    """What the numbers alone do not say."""
    if report.status == "invalid":
        said = "invalid: nothing stored" if not report.added else "invalid"
        return Text.assemble(", ", (said, "red"), style="dim")
    if not report.rows:
        return Text(", no bars in the file", "dim")
    if report.status == "imported" and not (report.added or report.updated):
        return Text(", nothing new: all rows were already stored", "dim")
    return Text()
