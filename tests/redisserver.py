"""A real Redis server on a free port, for the rate-limit tests."""

import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from candlesvc.store.localdb import free_port
from tests.programs import require


@contextmanager
def redis_server() -> Iterator[str]:
    """Run redis-server in the foreground without persistence; yield its URL."""
    binary = require("redis-server", "redis-server")
    port = free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")
