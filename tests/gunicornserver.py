"""The service under a real gunicorn, as deployed, plus a raw HTTP client for abuse tests."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from candlesvc.store.localdb import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Served:
    """A running gunicorn: its port, process and log file."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def worker_pids(self) -> list[int]:
        """The current worker processes (children of the master)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


@contextmanager
def gunicorn(env: dict[str, str], log: Path, workers: int = 2) -> Iterator[Served]:
    """Start `gunicorn -c python:candlesvc.gunicorn_conf wsgi:app`; stop it afterwards."""
    port = free_port()
    full_env = os.environ | env | {"BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers)}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:candlesvc.gunicorn_conf", "wsgi:app"],
            cwd=ROOT,
            env=full_env,
            stdout=sink,
            stderr=sink,
        )
    served = Served(port, process, log)
    try:
        wait_healthy(port)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def wait_healthy(port: int, seconds: float = 30) -> None:
    """Poll /health until the service answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("gunicorn did not become healthy")


def raw_request(port: int, head: str, body: bytes = b"", timeout: float = 10) -> bytes:
    """Send a hand-written request and return everything the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    """Read until the server closes the connection or stops sending."""
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return answer
