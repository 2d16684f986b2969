"""Minimal HTTP/1.1 client side: send request bytes, read a response by Content-Length."""

import socket
from collections.abc import Callable


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

    def _attempt(self, request: bytes) -> tuple[int, bytes]:
        sock = self._sock or self._connect()
        sock.sendall(request)
        status, body, closing = self._read_response(sock)
        if closing:
            self.close()
        return status, body

    def close(self) -> None:
        """Close the socket, if open."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self._buf.clear()

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
