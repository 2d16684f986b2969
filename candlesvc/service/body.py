"""Request bodies read within size, time and content-coding limits."""

import socket
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from flask import request
from gevent import monkey
from werkzeug.exceptions import ClientDisconnected, HTTPException

from candlesvc.service.deadline import deadline
from candlesvc.service.problems import RejectedError, problem

_CHUNK = 64 * 1024
_GZIP = {"gzip", "x-gzip"}


def read_body(max_bytes: int, timeout: float) -> bytes:
    """The request body, decompressed, refused when too large, too slow or oddly encoded."""
    coding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if coding not in _GZIP | {"identity", ""}:
        raise RejectedError(problem(415, "unsupported Content-Encoding; send gzip or none"))
    raw = _read_raw(max_bytes, timeout)
    return _inflate(raw, max_bytes) if coding in _GZIP else raw


def _read_raw(max_bytes: int, seconds: float) -> bytes:
    """Read at most max_bytes (Werkzeug enforces the limit) within `seconds` in all."""
    body = bytearray()
    with _deadline(seconds):
        while chunk := _read_chunk():
            body += chunk
            if len(body) > max_bytes:
                raise RejectedError(problem(413, f"the body exceeds {max_bytes} bytes"))
    return bytes(body)


def _read_chunk() -> bytes:
    """One read of the body; whatever the server's body parser refuses is the client's fault."""
    try:
        return request.stream.read(_CHUNK)
    except (HTTPException, TimeoutError):
        raise
    except Exception:  # the WSGI server's own parse errors (e.g. a bad chunk size)
        raise RejectedError(problem(400, "the request body is malformed")) from None


@contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Bound the whole body's arrival; a missed deadline is a 408.

    Under the service's gevent worker the bound is one timer over every read. Under a
    threaded server it can only bound each socket read by the time left.
    """
    sock: socket.socket | None = request.environ.get("gunicorn.socket")
    if sock is None:  # not read from a socket (the test client)
        yield
    elif monkey.is_module_patched("socket"):
        with deadline(seconds) as expiry:
            yield
        if expiry.ran_out:
            raise _too_slow()
    else:
        with _socket_timeouts(sock, time.monotonic() + seconds):
            yield


@contextmanager
def _socket_timeouts(sock: socket.socket, deadline: float) -> Iterator[None]:
    """Each socket read bounded by the time left before the deadline."""
    previous = sock.gettimeout()
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    try:
        yield
    except (TimeoutError, ClientDisconnected):
        if time.monotonic() < deadline:
            raise
        raise _too_slow() from None
    finally:
        sock.settimeout(previous)


def _too_slow() -> RejectedError:
    return RejectedError(
        problem(408, "the request body arrived too slowly", {"Connection": "close"})
    )


def _inflate(data: bytes, max_bytes: int) -> bytes:
    """Decompress a one-member gzip body, refusing one that inflates past max_bytes."""
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        body = inflater.decompress(data, max_bytes + 1)
    except zlib.error:
        raise RejectedError(problem(422, "the body is not valid gzip")) from None
    if len(body) > max_bytes or inflater.unconsumed_tail:
        raise RejectedError(problem(413, f"the body inflates past {max_bytes} bytes"))
    if not inflater.eof:
        raise RejectedError(problem(422, "the gzip body is truncated"))
    if inflater.unused_data:
        raise RejectedError(problem(422, "bytes follow the end of the gzip body; send one member"))
    return body
