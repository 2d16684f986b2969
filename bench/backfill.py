"""Backfill: `candlesvc import` of an MT5 export against `psql \\copy` of the same rows.

This machine's speed drifts by a quarter or more from one run to the next, so the three
are measured in rounds (\\copy, import, import again), each import against the \\copy of
its own round; a figure is the median over the rounds. Peak RSS is summed over the
command and every process it starts, sampled from /proc every 0.1 s.
"""

import os
import shutil
import subprocess
import tempfile
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from time import perf_counter

from bench.candles import write_exports
from bench.figures import Figure
from bench.limit import COPY
from bench.report import say
from bench.stack import count_rows, reset, rss_kib, venv_tool

_NEW, _AGAIN = "candlesvc import, {:,} new rows", "candlesvc import again, {:,} duplicates"


@dataclass(frozen=True)
class Run:
    """A finished command: seconds, its own peak RSS (wait4), and its process tree's."""

    seconds: float
    max_rss_mib: float
    tree_rss_mib: float


@dataclass
class Rounds:
    """Seconds taken by \\copy, the import and the re-import, round after round."""

    rows: int
    copy: list[float] = field(default_factory=list)
    new: list[Run] = field(default_factory=list)
    again: list[Run] = field(default_factory=list)

    def figure(self, key: str, name: str, runs: list[Run]) -> Figure:
        """The median rate of `runs`, judged by its median ratio to its round's \\copy."""
        ratios = [c / r.seconds for c, r in zip(self.copy, runs, strict=True)]
        each = ", ".join(f"{ratio:.2f}x" for ratio in ratios)
        seconds = ", ".join(f"{run.seconds:.1f}" for run in runs)
        note = f"x \\copy by round {each}, median {median(ratios):.2f}x; {seconds} s"
        rate = median(self.rows / run.seconds for run in runs)
        return Figure(key, name.format(self.rows), rate, paired=median(ratios), note=note)

    def copy_figure(self) -> Figure:
        """The median \\copy rate: the backfill reference."""
        rates = [self.rows / seconds for seconds in self.copy]
        each = ", ".join(f"{rate:,.0f}" for rate in rates)
        name = f"psql \\copy, {self.rows:,} rows of plain CSV"
        return Figure("copy_csv", name, median(rates), note=f"backfill reference; rounds {each}/s")


def backfill_figures(url: str, folder: Path, rows: int, rss_rows: int, rounds: int) -> list[Figure]:
    """\\copy, import and re-import of `rows`, `rounds` times; peak RSS for both sizes."""
    mt5_path, csv_path = write_exports(folder, rows, with_csv=True)
    assert csv_path is not None
    measured = Rounds(rows)
    psql = shutil.which("psql") or "psql"
    copy = "\\copy" + COPY.removeprefix("COPY").replace(
        "FROM STDIN", f"FROM '{csv_path}' WITH (FORMAT csv)"
    )
    for _ in range(rounds):
        reset(url)
        run = _run([psql, url, "-v", "ON_ERROR_STOP=1", "-c", copy], url, rows, "psql \\copy")
        measured.copy.append(run.seconds)
        say(f"psql \\copy of {rows:,} rows: {rows / run.seconds:,.0f} rows/s")
        reset(url)
        measured.new.append(_import(url, mt5_path, rows, "candlesvc import"))
        measured.again.append(_import(url, mt5_path, rows, "candlesvc import again"))
    csv_path.unlink()
    mt5_path.unlink()
    return [
        measured.copy_figure(),
        measured.figure("import_new", _NEW, measured.new),
        measured.figure("import_again", _AGAIN, measured.again),
        _rss("rss_small", rows, max(measured.new, key=lambda run: run.tree_rss_mib)),
        _rss("rss_big", rss_rows, _big_import(url, folder, rss_rows)),
    ]


def _import(url: str, path: Path, rows: int, what: str) -> Run:
    """`candlesvc import FILE --database-url URL`, checked to leave `rows` rows."""
    run = _run(
        [venv_tool("candlesvc"), "import", str(path), "--database-url", url], url, rows, what
    )
    say(f"{what} of {rows:,} rows: {rows / run.seconds:,.0f} rows/s")
    return run


def _big_import(url: str, folder: Path, rows: int) -> Run:
    """Import a file of `rows` into the empty table, for its peak RSS."""
    big, _ = write_exports(folder, rows, with_csv=False)
    reset(url)
    run = _import(url, big, rows, "candlesvc import")
    big.unlink()
    say(f"candlesvc import of {rows:,} rows: peak RSS {run.tree_rss_mib:,.0f} MiB")
    return run


def _rss(key: str, rows: int, run: Run) -> Figure:
    own = f"{run.max_rss_mib:,.0f} MiB"
    note = f"all its processes; the main one alone {own}; {rows / run.seconds:,.0f} rows/s"
    return Figure(
        key, f"candlesvc import peak RSS, {rows:,} rows", run.tree_rss_mib, "MiB", note=note
    )


def _run(args: list[str], url: str, rows: int, what: str) -> Run:
    """Run a command, timed with its peak RSS; refuse a failure or a wrong row count."""
    me = os.getpid()
    if not Path(f"/proc/{me}/task/{me}/children").exists():
        raise RuntimeError("peak RSS needs /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN)")
    with tempfile.TemporaryFile() as out:
        began = perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        peak, done = [0], threading.Event()
        sampler = threading.Thread(target=_sample_tree, args=(proc.pid, peak, done))
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = perf_counter() - began
        done.set()
        sampler.join()
        out.seek(0)
        tail = out.read()[-1500:].decode(errors="replace").strip()
    if (code := os.waitstatus_to_exitcode(status)) != 0:
        raise RuntimeError(f"{what} exited {code}: {tail}")
    if (stored := count_rows(url)) != rows:
        raise RuntimeError(f"{what} left {stored:,} rows, expected {rows:,}")
    return Run(seconds, usage.ru_maxrss / 1024, peak[0] / 1024)


def _sample_tree(root: int, peak: list[int], done: threading.Event) -> None:
    """Keep in peak[0] the largest resident KiB of `root` and its descendants, every 0.1 s."""
    while not done.wait(0.1):
        peak[0] = max(peak[0], _tree_rss_kib(root))


def _tree_rss_kib(root: int) -> int:
    """Resident KiB of a process and all its descendants, from their own /proc entries."""
    # Not a scan of all of /proc: every 0.1 s that costs milliseconds of CPU, taken from a
    # command that keeps both cores busy.
    tree, todo, resident = set(), [root], 0
    while todo:
        pid = todo.pop()
        tree.add(pid)
        if (kib := rss_kib(pid)) is None:
            continue
        resident += kib
        todo += [child for child in _children(pid) if child not in tree]
    return resident


def _children(pid: int) -> list[int]:
    """The processes that any thread of `pid` started."""
    children: list[int] = []
    with suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(OSError, ValueError):  # a thread may end meanwhile
                children += map(int, (task / "children").read_text().split())
    return children
