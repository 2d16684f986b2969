"""External commands timed with their own peak RSS: psql \\copy and `candlesvc import`."""

import os
import shutil
import subprocess
import threading
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

from bench.dbops import COPY
from bench.tools import venv_tool


@dataclass(frozen=True)
class Run:
    """A finished command: wall seconds, peak RSS, exit code and the tail of its output.

    `max_rss_mib` is the command's own peak (wait4's rusage); `tree_rss_mib` the peak
    sum over it and every process it started, sampled every 0.1 s.
    """

    seconds: float
    max_rss_mib: float
    returncode: int
    output: str
    tree_rss_mib: float = 0.0


def run_measured(args: list[str], log: Path) -> Run:
    """Run a command to completion, sampling its process tree's memory meanwhile."""
    _require_children_lists()
    with log.open("w+b") as out:
        began = perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        peak = [0]
        done = threading.Event()
        sampler = threading.Thread(target=_sample_tree, args=(proc.pid, peak, done))
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = perf_counter() - began
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        tail = out.read()[-1500:].decode(errors="replace").strip()
    return Run(seconds, usage.ru_maxrss / 1024, proc.returncode, tail, peak[0] / 2**20)


def _sample_tree(root: int, peak: list[int], done: threading.Event) -> None:
    """Keep in peak[0] the largest resident size, in bytes, of `root` and its descendants."""
    while not done.wait(0.1):
        peak[0] = max(peak[0], tree_rss(root))


def tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants (from /proc).

    It reads only the tree's own entries: a scan of all of /proc every 0.1 s costs
    several milliseconds of CPU, taken from a command that keeps both cores busy.
    """
    tree, todo, resident = set(), [root], 0
    while todo:
        pid = todo.pop()
        tree.add(pid)
        try:
            resident += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            continue
        todo += [child for child in _children(pid) if child not in tree]
    return resident * os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    """The processes that any thread of `pid` started."""
    children: list[int] = []
    with suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with suppress(OSError, ValueError):  # a thread may end meanwhile
                children += map(int, (task / "children").read_text().split())
    return children


def _require_children_lists() -> None:
    """Refuse to sample on a kernel that does not list each thread's children."""
    me = os.getpid()
    if not Path(f"/proc/{me}/task/{me}/children").exists():
        raise RuntimeError("peak RSS needs /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN)")


def importer_available() -> bool:
    """Whether `candlesvc import` exists in this checkout."""
    probe = subprocess.run([venv_tool("candlesvc"), "import", "--help"], capture_output=True)
    return probe.returncode == 0


def psql_copy(url: str, csv_path: Path, log: Path) -> Run:
    """`psql \\copy` of a plain CSV file into the candle table."""
    command = "\\copy" + COPY.removeprefix("COPY").replace(
        "FROM STDIN", f"FROM '{csv_path}' WITH (FORMAT csv)"
    )
    psql = shutil.which("psql") or "psql"
    return run_measured([psql, url, "-v", "ON_ERROR_STOP=1", "-c", command], log)


def candlesvc_import(url: str, path: Path, log: Path) -> Run:
    """`candlesvc import FILE --database-url URL`."""
    return run_measured([venv_tool("candlesvc"), "import", str(path), "--database-url", url], log)
