"""Small process helpers: the venv's console scripts, readiness probes, child processes."""

import http.client
import shutil
import sys
from pathlib import Path


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
