"""Import one history file: read ahead in a thread, write its chunks in one transaction."""

import queue
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import psycopg

from candlesvc.db import connect_kwargs
from candlesvc.histfiles import FormatError
from candlesvc.histrows import MAX_PROBLEMS, Chunk, ImportSpec, Problem, read_chunks
from candlesvc.writer import CandleWriter, OnConflict, WriteResult

STDIN = "-"
Item = TypeVar("Item")


class ImportAbortedError(Exception):
    """The database could not be reached or failed: the import stops; the message says why."""


@dataclass(frozen=True)
class FilePlan:
    """A file to import and what all its rows share."""

    name: str
    spec: ImportSpec
    on_conflict: OnConflict = OnConflict.IGNORE


@dataclass
class FileReport:
    """What importing one file did."""

    file: str
    symbol: str
    timeframe: str
    status: str = "imported"
    rows: int = 0
    added: int = 0
    updated: int = 0
    duplicates: int = 0
    invalid: int = 0
    seconds: float = 0.0
    error: str | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Rows read per second."""
        return self.rows / self.seconds if self.seconds else 0.0

    def count(self, chunk: Chunk) -> None:
        """Add a chunk's rows, invalid rows and first problems."""
        self.rows += chunk.rows
        self.invalid += chunk.invalid
        self.problems += chunk.problems[: MAX_PROBLEMS - len(self.problems)]

    def stored(self, result: WriteResult) -> None:
        """Add what the writer stored and skipped."""
        self.added += result.added
        self.updated += result.updated
        self.duplicates += result.duplicates


OnChunk = Callable[[FileReport, Chunk], None]


def no_hook(report: FileReport, chunk: Chunk) -> None:
    """An on-chunk hook that does nothing."""


def import_file(
    plan: FilePlan, database_url: str | None, atomic: bool = True, on_chunk: OnChunk = no_hook
) -> FileReport:
    """Import one file, or only validate it when database_url is None."""
    report = FileReport(plan.name, plan.spec.symbol, plan.spec.timeframe)
    started = time.perf_counter()
    try:
        with _open_binary(plan.name) as binary:
            chunks = _read_ahead(read_chunks(binary, plan.spec))
            try:
                if database_url is None:
                    _count(chunks, report, on_chunk)
                else:
                    _store(database_url, chunks, report, atomic, on_chunk, plan.on_conflict)
            finally:
                chunks.close()
    except FormatError as error:
        report.error = str(error)
    report.seconds = time.perf_counter() - started
    report.status = _status(report, database_url is None)
    return report


def _open_binary(name: str) -> AbstractContextManager[BinaryIO]:
    """The file as a binary stream; standard input, left open, for '-'."""
    if name == STDIN:
        return nullcontext(sys.stdin.buffer)
    return Path(name).open("rb")


def _status(report: FileReport, dry_run: bool) -> str:
    """One word for the summary."""
    if report.error or report.invalid:
        return "invalid"
    return "valid" if dry_run else "imported"


def _count(chunks: Iterator[Chunk], report: FileReport, on_chunk: OnChunk) -> None:
    """Read and validate every chunk without writing."""
    for chunk in chunks:
        report.count(chunk)
        on_chunk(report, chunk)


def _store(
    url: str,
    chunks: Iterator[Chunk],
    report: FileReport,
    atomic: bool,
    on_chunk: OnChunk,
    on_conflict: OnConflict,
) -> None:
    """Write the file's chunks on one connection; after an invalid row, only count.

    No prepared statements: a few statements per chunk gain nothing from them, and a
    transaction-mode pooler (PgBouncer, Supabase's port 6543) cannot keep them.
    """
    try:
        conn = psycopg.connect(url, autocommit=True, **connect_kwargs(prepared_statements=False))
    except psycopg.Error as error:
        raise ImportAbortedError(f"database unreachable: {_first_line(error)}") from None
    try:
        with conn:
            _write_chunks(conn, chunks, report, atomic, on_chunk, CandleWriter(conn, on_conflict))
    except psycopg.Error as error:
        outcome = "nothing from it was stored" if atomic else "chunks committed before are kept"
        raise ImportAbortedError(
            f"database failed while importing {report.file}: {_first_line(error)}; {outcome}"
        ) from None
    _count(chunks, report, on_chunk)


def _write_chunks(
    conn: psycopg.Connection[Any],
    chunks: Iterator[Chunk],
    report: FileReport,
    atomic: bool,
    on_chunk: OnChunk,
    writer: CandleWriter,
) -> None:
    """All chunks in one transaction (atomic) or one each; stop at the first invalid row."""
    with conn.transaction() if atomic else nullcontext():
        for chunk in chunks:
            report.count(chunk)
            if report.invalid:
                on_chunk(report, chunk)
                if atomic:
                    report.added = report.updated = report.duplicates = 0
                    raise psycopg.Rollback()
                return
            with nullcontext() if atomic else conn.transaction():
                report.stored(writer.write(chunk.candles))
            on_chunk(report, chunk)


def _first_line(error: Exception) -> str:
    """The first line of an error's message."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _read_ahead(items: Generator[Item, None, None], depth: int = 1) -> Generator[Item, None, None]:
    """Run an iterator in a thread, up to `depth` items ahead, so parsing overlaps writing."""
    ready: queue.Queue[tuple[bool, Any]] = queue.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                ready.put((True, item))
            ready.put((False, None))
        except BaseException as error:  # handed to the consumer, which re-raises it
            ready.put((False, error))
        finally:
            items.close()

    worker = threading.Thread(target=produce, name="candlesvc-reader", daemon=True)
    worker.start()
    try:
        while True:
            is_item, value = ready.get()
            if not is_item:
                if value is not None:
                    raise value
                return
            yield value
    finally:
        stop.set()
        while worker.is_alive():
            with suppress(queue.Empty):
                ready.get(timeout=0.05)
