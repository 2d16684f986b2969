"""The load generator: one process per client replays pre-encoded HTTP/1.1 requests.

Each client writes complete request bytes with sendall over a keep-alive socket and reads
each response by its Content-Length, reconnecting whenever the server closes the connection.
Its CPU time is measured so its share can be shown. The benchmark and the soak both use it.
"""

import json
import multiprocessing as mp
import os
import signal
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

_CTX = mp.get_context("fork")  # children inherit the encoded requests without pickling
SENT = {"requests": 0}  # every request sent in this process's runs, to check the service log


@dataclass
class ClientStats:
    """What one client sent and saw."""

    requests: int = 0
    added: int = 0
    duplicates: int = 0
    failures: int = 0
    connects: int = 0
    started: float = 0.0
    finished: float = 0.0
    cpu: float = 0.0
    first_failure: str = ""
    latencies: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class LoadResult:
    """The clients of one run, taken together."""

    clients: list[ClientStats]

    @property
    def wall(self) -> float:
        """Seconds from the first client's start to the last client's end."""
        return max(c.finished for c in self.clients) - min(c.started for c in self.clients)

    def total(self, name: str) -> int:
        """A counter summed over the clients."""
        return sum(int(getattr(c, name)) for c in self.clients)

    def cpu_share(self) -> float:
        """Client CPU time as a share of wall time x cores."""
        return sum(c.cpu for c in self.clients) / (self.wall * (os.cpu_count() or 1))

    def latencies(self) -> list[float]:
        """Every request's latency in seconds, sorted."""
        return sorted(lat for c in self.clients for lat in c.latencies)

    def check(self, added: int, duplicates: int) -> None:
        """Fail loudly if any request failed or the stored counts are not the expected ones."""
        failed = [c.first_failure for c in self.clients if c.failures]
        if failed:
            raise RuntimeError(f"{self.total('failures')} request(s) failed, e.g. {failed[0]}")
        got = (self.total("added"), self.total("duplicates"))
        if got != (added, duplicates):
            raise RuntimeError(f"expected added/duplicates {(added, duplicates)}, got {got}")


def run_load(port: int, plans: Sequence[Sequence[bytes]]) -> LoadResult:
    """Run one client process per plan, all starting together; wait for them all."""
    result = LoadResult(run_clients(_client, [(port, plan) for plan in plans]))
    SENT["requests"] += result.total("requests")
    return result


def run_clients(
    target: Callable[..., None],
    args: Sequence[tuple[Any, ...]],
    on_start: Callable[[], None] | None = None,
) -> list[Any]:
    """Run target(*a, barrier, queue) in one process per `a`; what each puts on the queue."""
    barrier = _CTX.Barrier(len(args) + 1)
    queue: Any = _CTX.SimpleQueue()
    procs = [_CTX.Process(target=target, args=(*a, barrier, queue), daemon=True) for a in args]
    for proc in procs:
        proc.start()
    try:
        barrier.wait(timeout=60)
        if on_start is not None:
            on_start()
        return [queue.get() for _ in procs]
    finally:
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    rank = max(0, min(len(sorted_values) - 1, int(share * len(sorted_values) + 0.999999) - 1))
    return sorted_values[rank]


def _client(port: int, plan: Sequence[bytes], barrier: Any, queue: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    stats = ClientStats()
    conn = HttpConnection(port)
    barrier.wait(timeout=60)
    cpu = time.process_time()
    stats.started = perf_counter()
    for request in plan:
        began = perf_counter()
        status, body = conn.exchange(request)
        stats.latencies.append(perf_counter() - began)
        _tally(stats, status, body)
    stats.finished = perf_counter()
    stats.cpu = time.process_time() - cpu
    conn.close()
    stats.connects = conn.connects
    queue.put(stats)


def _tally(stats: ClientStats, status: int, body: bytes) -> None:
    stats.requests += 1
    if status != 201:
        stats.failures += 1
        stats.first_failure = stats.first_failure or f"{status} {body[:300]!r}"
        return
    answer = json.loads(body)
    stats.added += answer["records_added"]
    stats.duplicates += answer["duplicates"]


class HttpConnection:
    """One client socket that reconnects when the server closes it."""

    def __init__(self, port: int, timeout: float | None = None) -> None:
        self._port = port
        self._timeout = timeout
        self.connects = 0
        self.head = b""  # the last response's status line and headers, lower-cased
        self._sock: socket.socket | None = None
        self._buf = bytearray()

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one request and return the response's status and body."""
        reused = self._sock is not None
        try:
            return self._attempt(request)
        except ConnectionError:
            self.close()
            if not reused:
                raise
            return self._attempt(request)  # the server dropped an idle keep-alive socket

    def close(self) -> None:
        """Close the socket, if open."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self._buf.clear()

    def _attempt(self, request: bytes) -> tuple[int, bytes]:
        sock = self._sock or self._connect()
        sock.sendall(request)
        status, body, closing = self._read_response(sock)
        if closing:
            self.close()
        return status, body

    def _connect(self) -> socket.socket:
        self._sock = socket.create_connection(("127.0.0.1", self._port), self._timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connects += 1
        return self._sock

    def _read_response(self, sock: socket.socket) -> tuple[int, bytes, bool]:
        end = self._fill_until(sock, lambda: self._buf.find(b"\r\n\r\n"))
        head = self.head = bytes(self._buf[:end]).lower()
        length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        total = end + 4 + length
        self._fill_until(sock, lambda: 0 if len(self._buf) >= total else -1)
        body = bytes(self._buf[end + 4 : total])
        del self._buf[:total]
        return int(head[9:12]), body, b"connection: close" in head

    def _fill_until(self, sock: socket.socket, ready: Callable[[], int]) -> int:
        while (found := ready()) < 0:
            chunk = sock.recv(262_144)
            if not chunk:
                raise ConnectionError("the server closed the connection mid-response")
            self._buf += chunk
        return found
