"""The gunicorn worker: gevent, with a total deadline on each request's line and headers.

Each connection is a greenlet, so idle or slow clients hold no thread and cost no CPU.
gunicorn's gevent worker already bounds the wait for each request's line and headers
by the keep-alive time; this one also answers 408 to a client that began a request and
stalled, instead of closing on it without a word. Request bodies have their own deadline
(BODY_TIMEOUT_MS, enforced where the application reads them).
"""

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from gevent.local import local
from gunicorn.workers.ggevent import GeventWorker

from candlesvc.service.deadline import deadline

TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 36\r\n\r\nthe request head arrived too slowly\n"
)


class Worker(GeventWorker):  # type: ignore[misc]
    """gunicorn's gevent worker; a request head that misses its deadline is closed (408)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._current = local()

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        """Serve one connection, remembering whether a request has begun on it."""
        self._current.client = _Client(client)
        super().handle(listener, self._current.client, addr)

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> bool:
        """Serve one parsed request; after it, the next one on the connection has not begun."""
        try:
            result: bool = super().handle_request(listener_name, req, sock, addr)
        finally:
            sock.began = False
        return result

    def timeout_ctx(self) -> Any:
        """The deadline for a request's line and headers: the keep-alive time."""
        return _head_deadline(self.cfg.keepalive, self._current.client)


@contextmanager
def _head_deadline(seconds: float, client: "_Client") -> Iterator[None]:
    """Stop reading a request head after `seconds`; answer 408 if the client had begun one."""
    with deadline(seconds) as expiry:
        yield
    if expiry.ran_out and client.began:
        with suppress(OSError):
            client.sendall(TIMED_OUT)


class _Client:
    """A client socket that tells whether bytes of a new request have arrived."""

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self.began = False

    def recv(self, size: int, *flags: int) -> bytes:
        """Receive, noting that a request has begun."""
        data: bytes = self._sock.recv(size, *flags)
        self.began = self.began or bool(data)
        return data

    def recv_into(self, buffer: Any, *args: int) -> int:
        """Receive into a buffer, noting that a request has begun."""
        count: int = self._sock.recv_into(buffer, *args)
        self.began = self.began or count > 0
        return count

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)
