"""Import one history file: file -> rows -> candles -> encoded chunks -> the store's writer.

The file's blocks are parsed into chunks by the pipeline (history.pipeline: worker
processes, read-ahead); the chunks are written here, on one connection, in one
transaction for the file (or one per chunk).
"""

import os
import sys
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import psycopg

from candlesvc.history.files import FormatError
from candlesvc.history.pipeline import (
    Demand,
    WorkerFailedError,
    chunks,
    rare_collections,
    read_ahead,
)
from candlesvc.history.rows import MAX_PROBLEMS, Chunk, ImportSpec, Problem, read_blocks
from candlesvc.store.access import write_access
from candlesvc.store.encoding import EncodedBatch
from candlesvc.store.pool import connect_kwargs
from candlesvc.store.writer import CandleWriter, OnConflict, WriteResult

__all__ = ["WorkerFailedError"]  # raised by import_file, defined by the pipeline

STDIN = "-"
PARALLEL_BYTES = 8 << 20  # files at least this large are parsed by one worker process per core
MAX_AUTO_JOBS = 8  # worker processes chosen by default at most: blocks in flight cost memory


class ImportAbortedError(Exception):
    """The database could not be reached or failed: the import stops; the message says why."""


@dataclass(frozen=True)
class FilePlan:
    """A file to import and what all its rows share."""

    name: str
    spec: ImportSpec
    on_conflict: OnConflict = OnConflict.IGNORE
    jobs: int | None = None  # worker processes; None: chosen from the file's size

    def workers(self) -> int:
        """How many processes parse the file (1: this one)."""
        if self.jobs is not None:
            return self.jobs
        large = self.name != STDIN and Path(self.name).stat().st_size >= PARALLEL_BYTES
        return min(len(os.sched_getaffinity(0)), MAX_AUTO_JOBS) if large else 1


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
        with rare_collections(), _open_binary(plan.name) as binary:
            demand = Demand(data=database_url is not None)
            parsed = read_ahead(_parsed(binary, plan, demand))
            try:
                if database_url is None:
                    _count(parsed, report, on_chunk)
                else:
                    _store(database_url, parsed, report, atomic, on_chunk, plan.on_conflict, demand)
            finally:
                parsed.close()
    except FormatError as error:
        report.error = str(error)
    report.seconds = time.perf_counter() - started
    report.status = _status(report, database_url is None)
    return report


def _parsed(binary: BinaryIO, plan: FilePlan, demand: Demand) -> Generator[Chunk, None, None]:
    """The file's chunks in file order, closing its blocks while the file is still open."""
    blocks = read_blocks(binary, plan.spec)
    try:
        yield from chunks(blocks, plan.spec, plan.workers(), demand)
    finally:
        blocks.close()


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
    demand: Demand,
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
            _require_write_access(conn, on_conflict)
            writes = _Writes(CandleWriter(conn, on_conflict), demand)
            _write_chunks(conn, chunks, report, atomic, on_chunk, writes)
    except psycopg.Error as error:
        outcome = "nothing from it was stored" if atomic else "chunks committed before are kept"
        cause = _cause(error)
        raise ImportAbortedError(
            f"database failed while importing {report.file}: {cause}; {outcome}"
        ) from None
    _count(chunks, report, on_chunk)


def _write_chunks(
    conn: psycopg.Connection[Any],
    chunks: Iterator[Chunk],
    report: FileReport,
    atomic: bool,
    on_chunk: OnChunk,
    writes: "_Writes",
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
                if chunk.batch is not None:
                    report.stored(writes.store(chunk, chunk.batch))
            on_chunk(report, chunk)


@dataclass(frozen=True)
class _Writes:
    """Stores chunks with the writer, and tells the parsing whether chunks need COPY data."""

    writer: CandleWriter
    demand: Demand

    def store(self, chunk: Chunk, batch: EncodedBatch) -> WriteResult:
        """Write the chunk's candles, or count them if all stored; parse again if data lack."""
        result = None if batch.data is not None else self.writer.count_stored(batch)
        if result is None:
            if batch.data is None and chunk.reread is not None:
                batch = chunk.reread().batch or batch
            result = self.writer.write_encoded(batch)
        all_stored = result.duplicates == result.received  # update mode: always write
        self.demand.data = self.writer.on_conflict is OnConflict.UPDATE or not all_stored
        return result


def _require_write_access(conn: psycopg.Connection[Any], on_conflict: OnConflict) -> None:
    """Refuse, before anything is written, a role that cannot write candles."""
    access = write_access(conn, on_conflict)
    if not access.ok:
        raise ImportAbortedError(f"{access.reason()}; nothing was stored")


def _cause(error: psycopg.Error) -> str:
    """The first line of the database's message, named a configuration error if it is one."""
    if isinstance(error, psycopg.errors.InsufficientPrivilege):
        return f"the database refused the write (a configuration error): {_first_line(error)}"
    return _first_line(error)


def _first_line(error: Exception) -> str:
    """The first line of an error's message."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
