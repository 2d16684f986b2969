"""What `candlesvc import` does once its options are read: plan, import, report."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

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
    import_file,
    no_hook,
)
from candlesvc.history.pipeline import skip_collection_at_exit
from candlesvc.history.rows import Chunk, ImportSpec
from candlesvc.model.timezones import SourceZone, parse_zone
from candlesvc.store.writer import OnConflict

from .common import Exit, error_line, fail

_stderr = Console(stderr=True, highlight=False)


def run(
    files: list[str],
    symbol: str | None,
    timeframe: str | None,
    tz: str,
    volume: str,
    dry_run: bool,
    atomic: bool,
    chunk_size: int,
    jobs: int | None,
    on_conflict: str,
    quiet: bool,
    as_json: bool,
    database_url: str | None,
) -> None:
    """Import the files as the command's options say, then report; exit non-zero on failure.

    The heap it leaves is frozen: the interpreter's exit then skips collecting it.
    """
    try:
        zone = _zone(tz)
        url = None if dry_run else _required(database_url)
        for name in files:
            if name != STDIN and not Path(name).is_file():
                fail(f"{name}: no such file", code=Exit.MISSING)
        plans = [
            _plan(name, symbol, timeframe, zone, volume, chunk_size, OnConflict(on_conflict), jobs)
            for name in files
        ]
        reports, abort = _run(plans, url, atomic, not (quiet or as_json) and _stderr.is_terminal)
        _report(reports, quiet, as_json, dry_run)
        if abort:
            fail(*abort)
        if any(report.status == "invalid" for report in reports):
            raise typer.Exit(Exit.INVALID)
    finally:
        skip_collection_at_exit()


def _zone(text: str) -> SourceZone:
    """The --tz option, or a usage error."""
    try:
        return parse_zone(text)
    except ValueError as error:
        fail(f"--tz: {error}", code=Exit.USAGE)


def _required(database_url: str | None) -> str:
    """The database URL, or a usage error."""
    if not database_url:
        fail("DATABASE_URL is not set: set it, pass --database-url, or use --dry-run", Exit.USAGE)
    return database_url


def _plan(
    name: str,
    symbol: str | None,
    timeframe: str | None,
    zone: SourceZone,
    volume: str,
    chunk_size: int,
    on_conflict: OnConflict,
    jobs: int | None,
) -> FilePlan:
    """What a file's rows share, from the options and the file's name."""
    hints = hints_from_name(name) if name != STDIN else NameHints()
    symbol, timeframe = symbol or hints.symbol, timeframe or hints.timeframe
    for value, option in ((symbol, "symbol"), (timeframe, "timeframe")):
        if not value:
            fail(f"{name}: the file name gives no {option}; pass --{option}", Exit.USAGE)
    try:
        kind: VolumeKind = "real" if volume == "real" else "tick"
        spec = ImportSpec(str(symbol), str(timeframe), zone, kind, chunk_size)
        return FilePlan(name, spec, on_conflict, jobs)
    except ValueError as error:
        fail(f"{name}: {error}", Exit.USAGE)


def _run(
    plans: list[FilePlan], url: str | None, atomic: bool, show_progress: bool
) -> tuple[list[FileReport], tuple[str, Exit] | None]:
    """Import the files in turn; stop at a database failure, a read error or Ctrl-C."""
    reports: list[FileReport] = []
    with _progress(show_progress) as progress:
        for plan in plans:
            try:
                reports.append(import_file(plan, url, atomic, _tracker(progress, plan)))
            except ImportAbortedError as error:
                return reports, (str(error), Exit.DATABASE)
            except WorkerFailedError as error:
                kept = "" if atomic else " (chunks already committed are kept)"
                return reports, (f"{plan.name}: {error}; it was not stored{kept}", Exit.WORKER)
            except OSError as error:
                return reports, (f"cannot read {plan.name}: {error}", Exit.MISSING)
            except KeyboardInterrupt:
                kept = "" if atomic else " (chunks already committed are kept)"
                return reports, (f"interrupted: {plan.name} was not stored{kept}", Exit.INTERRUPTED)
    return reports, None


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
    headings = (
        "read",
        "added",
        *(("updated",) if updates else ()),
        "duplicates",
        "invalid",
        "seconds",
        "rows/s",
    )
    for heading in headings:
        table.add_column(heading, justify="right", no_wrap=True)
    for r in reports:
        counts = (r.added, *((r.updated,) if updates else ()), r.duplicates)
        written = ("-",) * len(counts) if dry_run else tuple(f"{n:,}" for n in counts)
        about = Text.assemble(r.file, "\n", (f"{r.symbol} {r.timeframe}", "dim"), _note(r))
        table.add_row(
            about, f"{r.rows:,}", *written, f"{r.invalid:,}", f"{r.seconds:.2f}", f"{r.rate:,.0f}"
        )
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
