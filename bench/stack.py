"""The system under test: a private PostgreSQL and candlesvc under gunicorn, as deployed."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from bench.tools import children_of, http_ready, venv_tool
from candlesvc.db import apply_migrations
from candlesvc.localdb import LocalCluster, free_port
from candlesvc.security import generate_key

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
            info = self.cluster.ensure_running()
            self.url = self.cluster.ensure_database(info, "bench")
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
                cwd=REPO, env=self.service_env(), stdout=log, stderr=log,
                start_new_session=True,
            )  # fmt: skip
        self._wait_ready()

    def service_env(self) -> dict[str, str]:
        """The service's environment: only what deployment sets, none of the caller's tuning."""
        env = {k: v for k, v in os.environ.items() if k in _INHERITED}
        env |= {"DATABASE_URL": self.url, "MT5_API_KEY": self.api_key,
                "BIND": f"127.0.0.1:{self.port}", "LOG_LEVEL": "INFO"}  # fmt: skip
        return env | {k: str(v) for k, v in self._tuning.items() if v}

    def gunicorn_settings(self) -> dict[str, str]:
        """Workers and worker class as candlesvc.gunicorn_conf resolves them here."""
        probe = "import candlesvc.gunicorn_conf as c; print(c.workers, c.worker_class)"
        out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=self.service_env(),
                             capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
        return dict(zip(("workers", "worker_class"), out, strict=True))

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

    def request_log_lines(self) -> int:
        """JSON request-log lines the service has written so far."""
        with self.log_path.open("rb") as log:
            return sum(1 for line in log if b'"logger": "candlesvc.request"' in line)

    def worker_pids(self) -> list[int]:
        """The gunicorn worker processes (children of the master)."""
        assert self._proc is not None
        return children_of(self._proc.pid)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {self.log_path}")
            if http_ready(self.port, "/health/ready"):
                return
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not become ready within 60 s")
