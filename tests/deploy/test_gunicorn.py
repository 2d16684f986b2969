"""The service under real gunicorn: abusive bodies, slow clients, killed workers, restarts."""

import json
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import API_KEY
from tests.gunicornserver import Served, gunicorn, raw_request, read_all, wait_healthy
from tests.helpers import candle, minute_candles, rows
from tests.service.test_faults import slow_inserts, wait_for_backend

pytestmark = pytest.mark.slow  # gunicorn processes

LIMIT = 100_000


@pytest.fixture
def served(app_env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    env = app_env | {"MAX_BODY_BYTES": str(LIMIT), "BODY_TIMEOUT_MS": "1000"}
    with gunicorn(env, tmp_path / "gunicorn.log", workers=1) as server:
        yield server


def head(*extra: str) -> str:
    """A POST request's header lines, without the blank line that ends them."""
    lines = [
        "POST /api/v1/candles HTTP/1.1",
        "Host: test",
        "Content-Type: application/json",
        f"X-API-KEY: {API_KEY}",
        *extra,
    ]
    return "".join(f"{line}\n" for line in lines)


def send(port: int, body: Any, timeout: float = 30) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/candles",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "X-API-KEY": API_KEY},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_announced_oversize_body_is_413_before_it_is_sent(served):
    answer = raw_request(served.port, head("Content-Length: 50000000"), timeout=5)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"application/problem+json" in answer


def test_streamed_oversize_body_is_413(served, db):
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
        sock.sendall(head("Transfer-Encoding: chunked").replace("\n", "\r\n").encode() + b"\r\n")
        chunk = b"%x\r\n%s\r\n" % (10_000, b" " * 10_000)
        try:
            for _ in range(LIMIT // 10_000 + 5):
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert read_all(sock).startswith(b"HTTP/1.1 413")
    assert rows(db) == []


def test_malformed_chunked_body_is_400_not_500(served, db):
    answer = raw_request(served.port, head("Transfer-Encoding: chunked"), b"zz\r\n{}\r\n")
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"malformed" in answer
    assert rows(db) == []


def test_slow_body_gets_408_while_others_are_served(served, db):
    with socket.create_connection(("127.0.0.1", served.port), timeout=10) as slow:
        slow.sendall(head("Content-Length: 500").replace("\n", "\r\n").encode() + b"\r\n{")
        started = time.monotonic()
        assert send(served.port, {"candles": [candle()]})[0] == 201
        assert time.monotonic() - started < 1
        answer = read_all(slow)
    assert answer.startswith(b"HTTP/1.1 408")
    assert len(rows(db)) == 1


def test_killed_worker_is_replaced_and_leaves_no_partial_batch(served, db):
    slow_inserts(db, 2)
    batch = {"candles": [candle(symbol="SLOW"), *minute_candles(99)]}
    outcome: list[Any] = []
    client = threading.Thread(target=lambda: outcome.append(_try(send, served.port, batch)))
    client.start()
    wait_for_backend(db)
    (worker,) = served.worker_pids()
    os.kill(worker, signal.SIGKILL)
    client.join()
    assert isinstance(outcome[0], OSError)
    wait_healthy(served.port)
    assert served.worker_pids() != [worker]
    time.sleep(2.5)  # let the orphaned backend finish its sleep and notice the dead client
    assert rows(db) == []
    assert send(served.port, {"candles": minute_candles(3)}) == (
        201,
        {"received": 3, "records_added": 3, "duplicates": 0},
    )


def _try(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except OSError as error:
        return error


def test_one_json_log_line_per_request(served):
    raw_request(
        served.port, head("Content-Length: 2", "X-Request-ID: log-1", "Connection: close"), b"{}"
    )
    raw_request(
        served.port, "GET /health HTTP/1.1\nHost: t\nX-Request-ID: log-2\nConnection: close\n"
    )
    time.sleep(0.2)
    lines = [json.loads(line) for line in served.log.read_text().splitlines() if "log-" in line]
    assert [(r["request_id"], r["method"], r["path"], r["status"]) for r in lines] == [
        ("log-1", "POST", "/api/v1/candles", 422),
        ("log-2", "GET", "/health", 200),
    ]
    assert API_KEY not in served.log.read_text()


def test_stopped_workers_close_their_connections_without_a_traceback(app_env, tmp_path, db):
    log = tmp_path / "gunicorn.log"
    with gunicorn(app_env, log, workers=2) as server:
        for batch in range(8):  # a pooled connection used, in one worker or both
            assert send(server.port, {"candles": minute_candles(1, start=batch)})[0] == 201
    assert server.process.returncode == 0
    text = log.read_text()
    assert text.count("Worker exiting") == 2
    assert "Traceback" not in text
    assert "Exception ignored" not in text


def test_database_restart_under_load_loses_nothing_acknowledged(own_cluster, app_env, tmp_path):
    cluster, url = own_cluster
    env = app_env | {"DATABASE_URL": url, "POOL_TIMEOUT_MS": "1000"}
    outcomes: list[tuple[str, int, int, float]] = []
    stop = threading.Event()

    def client(symbol: str, port: int) -> None:
        for n in range(10_000):
            if stop.is_set():
                return
            batch = [
                candle(symbol=symbol, timestamp=1_704_153_600 + 60 * (20 * n + i))
                for i in range(20)
            ]
            started = time.monotonic()
            status, _ = send(port, {"candles": batch})
            outcomes.append((symbol, n, status, time.monotonic() - started))

    with gunicorn(env, tmp_path / "gunicorn.log", workers=2) as server:
        threads = [threading.Thread(target=client, args=(f"T{i}", server.port)) for i in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        cluster.stop()
        time.sleep(1.5)
        cluster.start()
        time.sleep(2.5)
        stop.set()
        for thread in threads:
            thread.join()
    statuses = [o[2] for o in outcomes]
    assert set(statuses) <= {201, 503}
    assert 503 in statuses
    assert statuses[-4:] == [201] * 4
    assert max(o[3] for o in outcomes) < 6
    with psycopg.connect(url) as conn:
        stored = conn.execute(
            'SELECT symbol, (extract(epoch FROM "timestamp")::bigint - 1704153600) / 1200,'
            " count(*) FROM market_data_candles GROUP BY 1, 2"
        ).fetchall()
    acknowledged = {(s, n) for s, n, status, _ in outcomes if status == 201}
    assert {(s, n): c for s, n, c in stored} == dict.fromkeys(acknowledged, 20)
