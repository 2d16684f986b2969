"""Import one history file: parse it in worker processes, write its chunks in one transaction."""

import gc
import os
import queue
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import psycopg

from candlesvc.history.files import FormatError
from candlesvc.history.pipeline import start_server
from candlesvc.history.rows import (
    MAX_PROBLEMS,
    Block,
    Chunk,
    ImportSpec,
    Problem,
    parse_block,
    read_blocks,
)
from candlesvc.model.timezones import ClockState
from candlesvc.store.access import write_access
from candlesvc.store.pool import connect_kwargs
from candlesvc.store.writer import CandleWriter, EncodedBatch, OnConflict, WriteResult

STDIN = "-"
PARALLEL_BYTES = 8 << 20  # files at least this large are parsed by one worker process per core
MAX_AUTO_JOBS = 8  # worker processes chosen by default at most: blocks in flight cost memory
Item = TypeVar("Item")


class ImportAbortedError(Exception):
    """The database could not be reached or failed: the import stops; the message says why."""


class WorkerFailedError(Exception):
    """A worker process parsing the file died (killed, out of memory): the import stops."""


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


@dataclass
class LinesWanted:
    """Whether blocks parsed from now on need COPY lines; the writing of chunks sets it.

    Once a chunk was all stored already, the next blocks are parsed without lines: a
    re-imported file is only counted. A block that then has new rows is parsed again.
    """

    wanted: bool = True


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
            lines = LinesWanted(wanted=database_url is not None)
            chunks = _read_ahead(read_chunks(binary, plan.spec, plan.workers(), lines))
            try:
                if database_url is None:
                    _count(chunks, report, on_chunk)
                else:
                    _store(database_url, chunks, report, atomic, on_chunk, plan.on_conflict, lines)
            finally:
                chunks.close()
    except FormatError as error:
        report.error = str(error)
    report.seconds = time.perf_counter() - started
    report.status = _status(report, database_url is None)
    return report


def read_chunks(
    binary: BinaryIO, spec: ImportSpec, jobs: int, lines: LinesWanted | None = None
) -> Generator[Chunk, None, None]:
    """The file's chunks in file order, parsed here (jobs=1) or by worker processes.

    A block is parsed without knowing where the file's clock stood before it; in the
    rare case that mattered (it starts inside an hour a DST change repeats), it is
    parsed again once that is known. Each chunk can parse its block again, with lines.
    """
    carry: ClockState = None
    blocks = read_blocks(binary, spec)
    wanted = lines or LinesWanted()
    parsed = _in_workers(blocks, spec, jobs, wanted) if jobs > 1 else _here(blocks, spec, wanted)
    try:
        for block, chunk in parsed:
            if chunk.clock_sensitive and carry is not None:
                chunk = parse_block(block, spec, carry)
            chunk.reread = partial(parse_block, block, spec, carry)
            carry = chunk.clock or carry  # None: these rows did not move the clock
            yield chunk
    finally:  # now, while the file is still open
        parsed.close()
        blocks.close()


def _here(
    blocks: Iterable[Block], spec: ImportSpec, lines: LinesWanted
) -> Generator[tuple[Block, Chunk], None, None]:
    """Parse the blocks in this process."""
    for block in blocks:
        yield block, parse_block(block, spec, lines=lines.wanted)


def _in_workers(
    blocks: Iterable[Block], spec: ImportSpec, jobs: int, lines: LinesWanted
) -> Generator[tuple[Block, Chunk], None, None]:
    """Parse the blocks in `jobs` processes, a few blocks ahead, yielding them in order."""
    pool = _start_pool(jobs)
    if pool is None:  # no process pool here (a read-only /dev/shm): parse in this process
        yield from _here(blocks, spec, lines)
        return
    pending: deque[tuple[Block, Future[Chunk]]] = deque()
    try:
        for block in blocks:
            pending.append((block, pool.submit(parse_block, block, spec, None, lines.wanted)))
            if len(pending) > 2 * jobs:
                done, future = pending.popleft()
                yield done, future.result()
        while pending:
            done, future = pending.popleft()
            yield done, future.result()
    except BrokenProcessPool:
        raise WorkerFailedError(
            "a worker process parsing the file died (out of memory?); --jobs 1 parses it here"
        ) from None
    finally:
        pool.shutdown(cancel_futures=True)


def _start_pool(jobs: int) -> ProcessPoolExecutor | None:
    """A pool of `jobs` worker processes, their fork server already starting; None if refused."""
    context = start_server()  # if not yet running, it loads the parsing code meanwhile
    if context is None:
        return None
    try:
        return ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker)
    except OSError:
        return None


def _start_worker() -> None:
    """Leave Ctrl-C to the main process, and collect garbage less often."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    collect_less()


def collect_less() -> None:
    """Run the garbage collector less often: rows are many, short-lived and acyclic.

    Freezing what is loaded so far (modules, schemas) keeps full collections short. A
    block's rows stay alive until it is encoded; collections more often than every few
    blocks would scan them again and again (a twentieth of the parsing time at 50,000).
    """
    gc.freeze()
    gc.set_threshold(500_000, 20, 100)


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
    lines: LinesWanted,
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
            writes = _Writes(CandleWriter(conn, on_conflict), lines)
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
    """Stores chunks with the writer, and tells the parsing which chunks need lines."""

    writer: CandleWriter
    lines: LinesWanted

    def store(self, chunk: Chunk, batch: EncodedBatch) -> WriteResult:
        """Write the chunk's candles, or count them if all stored; parse again if lines lack."""
        result = None if batch.data is not None else self.writer.count_stored(batch)
        if result is None:
            if batch.data is None and chunk.reread is not None:
                batch = chunk.reread().batch or batch
            result = self.writer.write_encoded(batch)
        all_stored = result.duplicates == result.received  # update mode: always write
        self.lines.wanted = self.writer.on_conflict is OnConflict.UPDATE or not all_stored
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
