"""Small process helpers: console scripts, readiness probes, child processes, signals."""

import http.client
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType


def venv_tool(name: str) -> str:
    """A console script next to this interpreter (the project's venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name) or name


def http_ready(port: int, path: str) -> bool:
    """Whether GET `path` on 127.0.0.1:`port` answers 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    return [int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat")
            if _parent_of(stat) == str(pid)]  # fmt: skip


def _parent_of(stat: Path) -> str:
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        return ""


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, which unwinds every finally: nothing stays running."""
    signal.signal(signal.SIGTERM, _exit)


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as the reports show them."""
    return " / ".join(f"{n:.1f}" for n in os.getloadavg())


def run_command(main: Callable[[], int]) -> None:
    """Exit with main()'s code; on Ctrl-C, say that everything was stopped and exit 130."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: PostgreSQL and gunicorn were stopped", file=sys.stderr)
        sys.exit(130)
