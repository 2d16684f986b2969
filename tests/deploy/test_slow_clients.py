"""Hundreds of idle, half-sent and trickling sockets against the service as users start it."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import pytest

from candlesvc.store.localdb import free_port
from tests.conftest import API_KEY
from tests.gunicornserver import ROOT, wait_healthy
from tests.helpers import candle, rows

pytestmark = pytest.mark.slow
EACH = 60  # sockets of each kind: 240 in all
HEAD_SECONDS = 2  # GUNICORN_KEEPALIVE: the request line and headers must arrive within it
BODY_SECONDS = 2  # BODY_TIMEOUT_MS / 1000
WATCH_SECONDS = 5  # how long the service is watched while the sockets misbehave
CANDLESVC = Path(sys.executable).parent / "candlesvc"


@contextmanager
def started(command: list[str], env: dict[str, str], port: int) -> Iterator[None]:
    """Run the service's command until the test ends."""
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env=os.environ | env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(port)
        yield
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def gunicorn_at_root(env: dict[str, str], port: int) -> list[str]:
    """`gunicorn wsgi:app` typed at the repository's root: gunicorn.conf.py configures it."""
    return [str(Path(sys.executable).parent / "gunicorn"), "wsgi:app"]


def candlesvc_serve(env: dict[str, str], port: int) -> list[str]:
    """`candlesvc serve` with a DATABASE_URL."""
    return [str(CANDLESVC), "serve", "--host", "127.0.0.1", "--port", str(port)]


@pytest.mark.parametrize("command", [gunicorn_at_root, candlesvc_serve])
def test_idle_and_slow_sockets_neither_delay_others_nor_stay_open(database_url, db, command):
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "MT5_API_KEY": API_KEY,
        "BIND": f"127.0.0.1:{port}",
        "GUNICORN_KEEPALIVE": str(HEAD_SECONDS),
        "BODY_TIMEOUT_MS": str(BODY_SECONDS * 1000),
        "WEB_CONCURRENCY": "2",
    }
    with started(command(env, port), env, port):
        assert_misbehaving_sockets_stall_nothing(port)
    assert len(rows(db)) == 1


def assert_misbehaving_sockets_stall_nothing(port: int) -> None:
    """Open EACH sockets of every misbehaviour, watch the service answer, then see them end.

    The service must run with GUNICORN_KEEPALIVE=HEAD_SECONDS and
    BODY_TIMEOUT_MS=BODY_SECONDS * 1000.
    """
    with ExitStack() as stack:
        kinds = {
            kind: [stack.enter_context(opened(port, sent)) for _ in range(EACH)]
            for kind, sent in MISBEHAVIOURS.items()
        }
        trickle = Trickle(kinds["trickling a body"])
        trickle.start()
        try:
            slowest = watch(port, WATCH_SECONDS)
        finally:
            trickle.stop()
        endings = {kind: {ending(sock) for sock in socks} for kind, socks in kinds.items()}
    assert slowest < 1.0, f"a request waited {slowest:.2f} s behind the misbehaving sockets"
    assert endings == {
        "idle": {"closed"},
        "mid request line": {"408"},
        "mid headers": {"408"},
        "trickling a body": {"408"},
    }


MISBEHAVIOURS = {
    "idle": b"",
    "mid request line": b"GET /heal",
    "mid headers": b"POST /api/v1/candles HTTP/1.1\r\nHost: test\r\nContent-Ty",
    "trickling a body": (
        b"POST /api/v1/candles HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        + f"X-API-KEY: {API_KEY}\r\nContent-Length: 1000\r\n\r\n".encode()
        + b'{"candles": ['
    ),
}


@contextmanager
def opened(port: int, sent: bytes) -> Iterator[socket.socket]:
    """A connection that has sent `sent` and then stops."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        sock.sendall(sent)
        yield sock
    finally:
        sock.close()


class Trickle(threading.Thread):
    """Sends one more byte of each body every half second: each byte in time, the whole late."""

    def __init__(self, socks: list[socket.socket]) -> None:
        super().__init__(daemon=True)
        self.socks, self.stopped = socks, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.5):
            for sock in self.socks:
                with suppress(OSError):
                    sock.send(b" ")

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


def watch(port: int, seconds: float) -> float:
    """Ask /health and post a valid batch over and over; the longest wait for an answer."""
    slowest, deadline = 0.0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path, body in (("/health", None), ("/api/v1/candles", [candle()])):
            started_at = time.monotonic()
            status = ask(port, path, body)
            slowest = max(slowest, time.monotonic() - started_at)
            assert status == (200 if body is None else 201), status
        time.sleep(0.05)
    return slowest


def ask(port: int, path: str, candles: list[dict[str, object]] | None) -> int:
    """One request on a new connection; its status."""
    data = json.dumps({"candles": candles}).encode() if candles is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data,
        headers={"Content-Type": "application/json", "X-API-KEY": API_KEY},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return int(answer.status)


def ending(sock: socket.socket) -> str:
    """How the server ended a connection: '408' (answered so), 'closed', or 'open'."""
    sock.settimeout(max(HEAD_SECONDS, BODY_SECONDS) + 3)
    try:
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    except TimeoutError:
        return "open"
    except ConnectionResetError:
        return "closed"
    return answer[9:12].decode() if answer.startswith(b"HTTP/1.1 ") else "closed"
