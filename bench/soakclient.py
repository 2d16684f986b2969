"""One soak client process: new batches and re-sends until time is up, each one delivered.

Like an EA, it retries the same batch after a 503 (waiting Retry-After seconds) or a lost
connection; any other status is recorded and the batch given up.
"""

import json
import random
import signal
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from bench.loadgen import HttpConnection
from bench.soakbatch import Layout, size

RESEND_SHARE = 0.3
GRACE_S = 60.0  # after time is up, a batch being retried may still take this long
CONN_ERROR = -1  # the status recorded when no response came back
_TIMEOUT_S = 60.0


@dataclass
class SoakStats:
    """What one client sent and saw; `requests` holds (monotonic start, seconds, status)."""

    client: int
    requests: list[tuple[float, float, int]] = field(default_factory=list)
    acked: list[int] = field(default_factory=list)  # new batches answered 201
    unacked: list[int] = field(default_factory=list)  # new batches given up
    resends: int = 0
    resend_added: int = 0  # rows a re-send stored: each had been acknowledged, then lost
    added: int = 0  # records_added over every 201
    early: int = 0  # new batches found (partly) stored already: an earlier try did commit
    unexpected: str = ""  # the first response other than 201 or 503
    connects: int = 0
    cpu: float = 0.0
    finished: float = 0.0  # monotonic time the last batch ended
    crashed: str = ""


def soak_client(
    client: int, port: int, api_key: str, seconds: float, barrier: Any, queue: Any
) -> None:
    """Post batches for `seconds` after every client is ready; put the SoakStats on `queue`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    stats = SoakStats(client)
    conn = HttpConnection(port, _TIMEOUT_S)
    barrier.wait(timeout=60)
    cpu = time.process_time()
    try:
        _run(stats, conn, (f"127.0.0.1:{port}", api_key), time.monotonic() + seconds)
    except Exception:
        stats.crashed = traceback.format_exc(limit=5)
    conn.close()
    stats.finished = time.monotonic()
    stats.cpu, stats.connects = time.process_time() - cpu, conn.connects
    queue.put(stats)


def _run(stats: SoakStats, conn: HttpConnection, target: tuple[str, str], deadline: float) -> None:
    layout, draw = Layout(stats.client), random.Random(stats.client)
    while time.monotonic() < deadline:
        resend = bool(stats.acked) and draw.random() < RESEND_SHARE
        number = draw.choice(stats.acked) if resend else len(stats.acked) + len(stats.unacked)
        answer = _deliver(stats, conn, layout.request(*target, number), deadline + GRACE_S)
        _tally(stats, number, resend, answer)


def _tally(stats: SoakStats, number: int, resend: bool, answer: dict[str, int] | None) -> None:
    if resend:
        stats.resends += 1
        stats.resend_added += answer["records_added"] if answer else 0
    elif answer is None:
        stats.unacked.append(number)
    else:
        stats.acked.append(number)
        stats.early += answer["records_added"] < size(stats.client, number)
    stats.added += answer["records_added"] if answer else 0


def _deliver(
    stats: SoakStats, conn: HttpConnection, request: bytes, give_up: float
) -> dict[str, int] | None:
    """Send until 201 (its answer), a status not worth retrying, or `give_up` (None)."""
    while time.monotonic() < give_up:
        began = time.monotonic()
        try:
            status, body = conn.exchange(request)
        except OSError:
            conn.close()
            status, body = CONN_ERROR, b""
        stats.requests.append((began, time.monotonic() - began, status))
        if status == 201:
            answer: dict[str, int] = json.loads(body)
            return answer
        if status not in (503, CONN_ERROR):
            stats.unexpected = stats.unexpected or f"{status} {body[:300]!r}"
            return None
        time.sleep(_retry_after(conn.head) if status == 503 else 0.5)
    return None


def _retry_after(head: bytes) -> float:
    """The Retry-After header's seconds (1 if absent), at most 10."""
    _, found, rest = head.partition(b"\r\nretry-after:")
    return min(10.0, float(rest.split(b"\r\n", 1)[0])) if found else 1.0
