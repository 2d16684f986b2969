"""How a file's blocks become chunks in parallel: worker processes, read-ahead, and GC policy.

Blocks are parsed (history.rows.parse_block) by one worker process per core, started
from a fork server that has loaded the parsing code, a few blocks ahead of the writer,
and come back in file order; a reader thread keeps one chunk ready while the caller
writes the one before. Rows are many, short-lived and acyclic, so the garbage collector
runs rarely meanwhile. Every wait is bounded: a worker that dies or stops answering
ends the import with WorkerFailedError.
"""

import gc
import queue
import signal
import threading
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from candlesvc.history import forkserver
from candlesvc.history.rows import Block, Chunk, ImportSpec, parse_block
from candlesvc.model.timezones import ClockState

WORKER_TIMEOUT = 120.0  # seconds a worker may take over one block (it takes well under one)
Item = TypeVar("Item")


class WorkerFailedError(Exception):
    """A worker process parsing the file died or stopped answering: the import stops."""


@dataclass
class Demand:
    """Whether blocks parsed from now on need COPY data; the writing side sets it.

    Once a chunk was all stored already, the next blocks are parsed without it: a
    re-imported file is only counted. A chunk that then has new rows is parsed again.
    """

    data: bool = True


def chunks(
    blocks: Iterable[Block], spec: ImportSpec, jobs: int, demand: Demand
) -> Generator[Chunk, None, None]:
    """The blocks parsed into chunks, in file order, here (jobs=1) or in worker processes.

    A block is parsed without knowing where the file's clock stood before it; in the
    rare case that mattered (it starts inside an hour a DST change repeats), it is parsed
    again once that is known. Each chunk can parse its block again, with data.
    """
    carry: ClockState = None
    parsed = _in_workers(blocks, spec, jobs, demand) if jobs > 1 else _here(blocks, spec, demand)
    try:
        for block, chunk in parsed:
            if chunk.clock_sensitive and carry is not None:
                chunk = parse_block(block, spec, carry)
            chunk.reread = partial(parse_block, block, spec, carry)
            carry = chunk.clock or carry  # None: these rows did not move the clock
            yield chunk
    finally:
        parsed.close()


def _here(
    blocks: Iterable[Block], spec: ImportSpec, demand: Demand
) -> Generator[tuple[Block, Chunk], None, None]:
    """Parse the blocks in this process."""
    for block in blocks:
        yield block, parse_block(block, spec, lines=demand.data)


def _in_workers(
    blocks: Iterable[Block], spec: ImportSpec, jobs: int, demand: Demand
) -> Generator[tuple[Block, Chunk], None, None]:
    """Parse the blocks in `jobs` processes, a few blocks ahead, yielding them in order."""
    pool = _start_pool(jobs)
    if pool is None:  # no process pool here (a read-only /dev/shm): parse in this process
        yield from _here(blocks, spec, demand)
        return
    pending: deque[tuple[Block, Future[Chunk]]] = deque()
    try:
        for block in blocks:
            pending.append((block, pool.submit(parse_block, block, spec, None, demand.data)))
            if len(pending) > 2 * jobs:
                yield _parsed(*pending.popleft())
        while pending:
            yield _parsed(*pending.popleft())
    except BrokenProcessPool:
        raise WorkerFailedError(
            "a worker process parsing the file died (out of memory?); --jobs 1 parses it here"
        ) from None
    finally:
        pool.shutdown(cancel_futures=True)


def _parsed(block: Block, future: "Future[Chunk]") -> tuple[Block, Chunk]:
    """A worker's chunk, waited for at most WORKER_TIMEOUT."""
    try:
        return block, future.result(timeout=WORKER_TIMEOUT)
    except FutureTimeout:
        raise WorkerFailedError(
            f"a worker process parsing the file gave no answer in {WORKER_TIMEOUT:.0f} s"
        ) from None


def _start_pool(jobs: int) -> ProcessPoolExecutor | None:
    """A pool of `jobs` worker processes from the fork server; None if refused."""
    context = forkserver.start()  # already running if the command started it
    if context is None:
        return None
    try:
        return ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker)
    except OSError:
        return None


def _start_worker() -> None:
    """Leave Ctrl-C to the main process, and collect garbage rarely."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _collect_rarely()


def read_ahead(items: Generator[Item, None, None], depth: int = 1) -> Generator[Item, None, None]:
    """Run a generator in a thread, up to `depth` items ahead, so parsing overlaps writing."""
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


@contextmanager
def rare_collections() -> Iterator[None]:
    """Collect garbage rarely while importing, then as before."""
    threshold = gc.get_threshold()
    _collect_rarely()
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _collect_rarely() -> None:
    """Run the garbage collector rarely: rows are many, short-lived and acyclic.

    Freezing what is loaded so far (modules, schemas) keeps full collections short. A
    block's rows stay alive until it is encoded; collections more often than every few
    blocks would scan them again and again (a twentieth of the parsing time at 50,000).
    """
    gc.freeze()
    gc.set_threshold(500_000, 20, 100)


def skip_collection_at_exit() -> None:
    """Freeze the heap, so that the interpreter's exit does not collect it (0.1 s saved)."""
    gc.freeze()
