"""The system under test: a private PostgreSQL and candlesvc under gunicorn, as deployed."""

import http.client
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, TracebackType

import psycopg

from candlesvc.service.keys import generate_key
from candlesvc.store.localdb import LocalCluster, free_port
from candlesvc.store.schema import apply_migrations

REPO = Path(__file__).resolve().parent.parent
_INHERITED = {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH"}


class Stack:
    """PostgreSQL (started on entry) and gunicorn in a temporary folder; all gone on exit."""

    def __init__(self, workers: int | None = None) -> None:
        self._tuning = {"WEB_CONCURRENCY": workers}
        self.root = Path(tempfile.mkdtemp(prefix="candlesvc-bench-"))
        self.root.chmod(0o755)  # the unprivileged PostgreSQL user must traverse it
        self.cluster = LocalCluster(self.root / "cluster")
        self.api_key = generate_key()
        self.log_path = self.root / "gunicorn.log"
        self.url = ""
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "Stack":
        try:
            self.url = self.cluster.ensure_database(self.cluster.ensure_running(), "bench")
            apply_migrations(self.url)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        try:
            self.stop_service()
        finally:
            self.cluster.stop()
            shutil.rmtree(self.root, ignore_errors=True)

    def start_service(self) -> None:
        """Start gunicorn exactly as deployed, in its own process group, and wait until ready."""
        self.port = free_port()
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [venv_tool("gunicorn"), "-c", "python:candlesvc.gunicorn_conf", "wsgi:app"],
                cwd=REPO,
                env=self._service_env(),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while not _ready(self.port):
            if self._proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not become ready within 60 s")
            time.sleep(0.2)

    def stop_service(self) -> None:
        """Stop gunicorn and its workers (SIGTERM to the group, SIGKILL if it lingers)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def worker_pids(self) -> list[int]:
        """The gunicorn worker processes (children of the master)."""
        assert self._proc is not None
        return children_of(self._proc.pid)

    def request_log_lines(self) -> int:
        """JSON request-log lines the service has written so far."""
        with self.log_path.open("rb") as log:
            return sum(1 for line in log if b'"logger": "candlesvc.request"' in line)

    def machine(self) -> dict[str, str]:
        """CPU, cores, RAM, versions, gunicorn's workers, the date and the load average."""
        mem_kib = _proc_field("/proc/meminfo", "MemTotal").split()[:1] or ["0"]
        with psycopg.connect(self.url) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        workers, worker_class = self._gunicorn_settings()
        return {
            "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
            "cores": str(os.cpu_count() or 1),
            "ram": f"{int(mem_kib[0]) / 1024**2:.1f} GiB",
            "os": platform.platform(terse=True),
            "postgresql": str(version[0]) if version else "unknown",
            "python": platform.python_version(),
            "gunicorn": f"{workers} {worker_class} workers",
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "load_average": load_average(),
        }

    def _service_env(self) -> dict[str, str]:
        """The service's environment: only what deployment sets, none of the caller's tuning."""
        env = {k: v for k, v in os.environ.items() if k in _INHERITED}
        env |= {
            "DATABASE_URL": self.url,
            "MT5_API_KEY": self.api_key,
            "BIND": f"127.0.0.1:{self.port}",
            "LOG_LEVEL": "INFO",
        }
        return env | {k: str(v) for k, v in self._tuning.items() if v}

    def _gunicorn_settings(self) -> list[str]:
        """Workers and worker class as candlesvc.gunicorn_conf resolves them here."""
        probe = "import candlesvc.gunicorn_conf as c; print(c.workers, c.worker_class)"
        done = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=REPO,
            env=self._service_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.split()


def reset(url: str) -> None:
    """Empty the candle table and checkpoint, so the next scenario starts alike."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE market_data_candles")
        conn.execute("CHECKPOINT")


def count_rows(url: str) -> int:
    """Rows in the candle table."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM market_data_candles").fetchone()
        return int(row[0]) if row else 0


def venv_tool(name: str) -> str:
    """A console script next to this interpreter (the project's venv), else on PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name) or name


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    return [
        int(stat.parent.name)
        for stat in Path("/proc").glob("[0-9]*/stat")
        if _parent_of(stat) == str(pid)
    ]


def rss_kib(pid: int) -> int | None:
    """A process's resident set size in KiB, or None once it has gone."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE_KIB
    except (OSError, ValueError, IndexError):
        return None


_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as the reports show them."""
    return " / ".join(f"{n:.1f}" for n in os.getloadavg())


def run_command(main: Callable[[], int]) -> None:
    """Exit with main()'s code; SIGTERM and Ctrl-C unwind every `finally`, so nothing stays up."""
    signal.signal(signal.SIGTERM, _exit)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted: PostgreSQL and gunicorn were stopped", file=sys.stderr)
        sys.exit(130)


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _ready(port: int) -> bool:
    """Whether GET /health/ready answers 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/health/ready")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _parent_of(stat: Path) -> str:
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[1]
    except (OSError, IndexError):
        return ""


def _proc_field(path: str, name: str) -> str:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(name)), "")
