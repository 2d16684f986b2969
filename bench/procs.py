"""External commands timed with their own peak RSS: psql \\copy and `candlesvc import`."""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter

from bench.dbops import COPY
from bench.tools import venv_tool


@dataclass(frozen=True)
class Run:
    """A finished command: wall seconds, peak RSS, exit code and the tail of its output."""

    seconds: float
    max_rss_mib: float
    returncode: int
    output: str


def run_measured(args: list[str], log: Path) -> Run:
    """Run a command to completion; its own peak RSS comes from wait4's rusage."""
    with log.open("w+b") as out:
        began = perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        tail = out.read()[-1500:].decode(errors="replace").strip()
    return Run(seconds, usage.ru_maxrss / 1024, proc.returncode, tail)


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
