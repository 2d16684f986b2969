"""GET /metrics under a real gunicorn with three workers: exact totals summed over the workers."""

import json
import os
import signal
import stat
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.conftest import API_KEY
from tests.gunicornserver import Served, gunicorn, wait_healthy
from tests.helpers import Scraped, candle, minute_candles
from tests.service.test_faults import slow_inserts, wait_for_backend

pytestmark = pytest.mark.slow  # gunicorn processes

TOKEN = "metrics-token-" + "m" * 32
WORKERS = 3
ROUNDS = 12
REQUESTS = "candlesvc_http_requests_total"
KEY = {"X-API-KEY": API_KEY}
IN_USE = "candlesvc_pool_connections_in_use"


@pytest.fixture
def metered(app_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[Served, Path]]:
    """gunicorn with three workers; the metrics folder lands in the test's own TMPDIR."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = app_env | {"METRICS_TOKEN": TOKEN, "TMPDIR": str(tmp), "LOCK_TIMEOUT_MS": "300"}
    with gunicorn(env, tmp_path / "gunicorn.log", workers=WORKERS) as server:
        (folder,) = tmp.iterdir()
        wait_for_all_workers(server, folder)
        yield server, folder
    assert not folder.exists()  # removed when the master stopped


def wait_for_all_workers(server: Served, folder: Path) -> None:
    """Wait until every worker has built its app (and so its metrics files)."""
    deadline = time.monotonic() + 30
    while not all((folder / f"counter_{pid}.db").exists() for pid in server.worker_pids()):
        assert time.monotonic() < deadline, "the workers did not all start"
        time.sleep(0.1)


def call(port: int, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    """One request on a connection of its own (so that any worker may take it)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        None if body is None else json.dumps(body).encode(),
        {"Content-Type": "application/json", **headers},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def post(port: int, body: Any) -> int:
    """POST a batch with the key; its status."""
    status: int = call(port, "POST", "/api/v1/candles", body, **KEY)[0]
    return status


def scrape(port: int) -> Scraped:
    status, text = call(port, "GET", "/metrics", Authorization=f"Bearer {TOKEN}")
    assert status == 200, text
    return Scraped(text)


def own(folder: Path, kind: str, pid: int, name: str) -> float:
    """The sum of one worker's samples of a name, from its own file."""
    families = MultiProcessCollector.merge([str(folder / f"{kind}_{pid}.db")])
    return sum(s.value for f in families for s in f.samples if s.name == name)


def one_round(port: int, n: int) -> list[tuple[str, str, int, Any]]:
    """Requests of known outcome: new, duplicate, corrected, invalid, unauthorised, reads."""
    batch = {"candles": minute_candles(5, start=5 * n)}
    corrected = {"candles": [c | {"volume": 99} for c in batch["candles"]]}
    sent = [
        ("POST", "/api/v1/candles", batch, KEY),
        ("POST", "/api/v1/candles", batch, KEY),
        ("POST", "/api/v1/candles?on_conflict=update", corrected, KEY),
        ("POST", "/api/v1/candles", {"candles": [candle(high=0.1)]}, KEY),
        ("POST", "/api/v1/candles", batch, {"X-API-KEY": "wrong-" + "w" * 32}),
        ("GET", "/api/v1/candles/latest?symbol=EURUSD&timeframe=M1", None, KEY),
        ("GET", f"/api/v1/candles/latest?symbol=NONE{n}&timeframe=M1", None, KEY),
        ("GET", f"/nowhere/{n}", None, KEY),
    ]
    answers = []
    for method, path, body, headers in sent:
        status, text = call(port, method, path, body, **headers)
        answers.append((method, path.split("?")[0], status, json.loads(text)))
    return answers


def test_totals_are_exact_across_workers(metered, db):
    served, folder = metered
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    answers: list[tuple[str, str, int, Any]] = []
    rounds = [
        threading.Thread(target=lambda n=n: answers.extend(one_round(served.port, n)))
        for n in range(ROUNDS)
    ]
    for thread in rounds:
        thread.start()
    for thread in rounds:
        thread.join()
    recent = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    fresh = candle(symbol="GBPUSD", timestamp=recent.isoformat())
    assert post(served.port, {"candles": [fresh]}) == 201
    found = scrape(served.port)

    expected = Counter(
        (m, p if p.startswith("/api/") else "unmatched", s) for m, p, s, _ in answers
    )
    expected[("POST", "/api/v1/candles", 201)] += 1  # GBPUSD
    expected[("GET", "/health", 200)] = 1  # asked once at start
    assert expected[("POST", "/api/v1/candles", 201)] == 3 * ROUNDS + 1
    assert found.labels(REQUESTS) == {
        frozenset({"endpoint": p, "method": m, "status": str(s)}.items()): count
        for (m, p, s), count in expected.items()
    }
    for (method, endpoint), count in Counter((m, p) for m, p, _ in expected.elements()).items():
        histogram = "candlesvc_http_request_duration_seconds"
        labels = {"endpoint": endpoint, "method": method}
        assert found(f"{histogram}_count", **labels) == count
        assert found(f"{histogram}_bucket", le="+Inf", **labels) == count
    stored = [a for _, _, status, a in answers if status == 201]
    sums = {f: sum(a.get(f, 0) for a in stored) for f in ("received", "records_added")}
    sums |= {f: sum(a.get(f, 0) for a in stored) for f in ("duplicates", "records_updated")}
    assert found("candlesvc_candles_received_total") == sums["received"] + 1  # and GBPUSD
    assert found("candlesvc_candles_added_total") == sums["records_added"] + 1
    assert found("candlesvc_candles_duplicates_total") == sums["duplicates"] == 5 * ROUNDS
    assert found("candlesvc_candles_updated_total") == sums["records_updated"] == 5 * ROUNDS

    # The totals are sums: several workers answered, each counted only its own requests.
    per_worker = [own(folder, "counter", pid, REQUESTS) for pid in served.worker_pids()]
    assert sum(per_worker) == sum(expected.values()) + 1  # and the scrape itself
    assert sum(1 for own in per_worker if own) >= 2, per_worker

    assert found(IN_USE) == 0
    assert found("candlesvc_pool_requests_waiting") == 0
    ages = found.labels("candlesvc_feed_age_seconds")
    assert set(ages) == {
        frozenset({"symbol": "EURUSD", "timeframe": "M1"}.items()),
        frozenset({"symbol": "GBPUSD", "timeframe": "M1"}.items()),
    }
    assert 180 <= found("candlesvc_feed_age_seconds", symbol="GBPUSD", timeframe="M1") < 240
    newest = db.execute("SELECT max(timestamp) FROM market_data_candles WHERE symbol = 'EURUSD'")
    eurusd_age = (datetime.now(UTC) - newest.fetchone()[0]).total_seconds()
    assert (
        0 <= eurusd_age - found("candlesvc_feed_age_seconds", symbol="EURUSD", timeframe="M1") < 60
    )


def test_metrics_without_the_token_reveal_nothing(metered):
    served, _ = metered
    assert post(served.port, {"candles": [candle()]}) == 201
    for authorization in ({}, {"Authorization": f"Bearer {'w' * 46}"}, {"Authorization": TOKEN}):
        status, text = call(served.port, "GET", "/metrics", **authorization)
        assert status == 401
        assert "candlesvc_" not in text
        assert "EURUSD" not in text
    assert scrape(served.port)("candlesvc_candles_added_total") == 1
    assert TOKEN not in served.log.read_text()


def test_a_killed_worker_keeps_its_counts_and_drops_its_gauges(metered, db):
    served, folder = metered
    for n in range(30):
        assert post(served.port, {"candles": minute_candles(1, start=n)}) == 201
    slow_inserts(db, 5)
    cut: list[OSError] = []
    holding = threading.Thread(target=post_slow, args=(served.port, cut))
    holding.start()
    wait_for_backend(db)
    before = scrape(served.port)
    assert before(IN_USE) == 1
    (holder,) = [pid for pid in served.worker_pids() if own(folder, "gauge_livesum", pid, IN_USE)]
    assert own(folder, "counter", holder, REQUESTS) > 0  # its counts are part of the totals

    os.kill(holder, signal.SIGKILL)
    holding.join()
    assert len(cut) == 1  # the client saw its connection end
    deadline = time.monotonic() + 30
    while holder in served.worker_pids() or len(served.worker_pids()) < WORKERS:
        assert time.monotonic() < deadline, "the killed worker was not replaced"
        time.sleep(0.1)
    wait_healthy(served.port)
    after = scrape(served.port)
    assert after(IN_USE) == 0
    assert not (folder / f"gauge_livesum_{holder}.db").exists()
    assert (folder / f"counter_{holder}.db").exists()
    assert after("candlesvc_candles_added_total") == before("candlesvc_candles_added_total") == 30
    post_201 = {"endpoint": "/api/v1/candles", "method": "POST", "status": "201"}
    assert after(REQUESTS, **post_201) == before(REQUESTS, **post_201) == 30
    scrapes = {"endpoint": "/metrics", "method": "GET", "status": "200"}
    assert after(REQUESTS, **scrapes) == 1  # the scrape before the kill
    wait_for_all_workers(served, folder)  # the new worker counts in the same folder
    for n in range(30, 40):
        assert post(served.port, {"candles": minute_candles(1, start=n)}) == 201
    assert scrape(served.port)("candlesvc_candles_added_total") == 40


def post_slow(port: int, cut: list[OSError]) -> None:
    """POST a candle whose insert sleeps in the database; note the connection's end."""
    try:
        post(port, {"candles": [candle(symbol="SLOW")]})
    except OSError as error:
        cut.append(error)


def test_database_errors_are_counted_and_a_scrape_answers_without_the_feed_age(
    metered, database_url
):
    served, _ = metered
    assert post(served.port, {"candles": [candle()]}) == 201
    with psycopg.connect(database_url) as locker:
        locker.execute("LOCK TABLE market_data_candles IN ACCESS EXCLUSIVE MODE")
        statuses = [post(served.port, {"candles": [candle(symbol="X")]}) for _ in range(6)]
        during = scrape(served.port)
    after = scrape(served.port)
    assert statuses == [503] * 6
    assert "candlesvc_feed_age_seconds" not in during.text
    assert during("candlesvc_database_errors_total", kind="lock_timeout") == 7  # and the scrape
    assert after("candlesvc_database_errors_total", kind="lock_timeout") == 7
    assert after("candlesvc_feed_age_seconds", symbol="EURUSD", timeframe="M1") > 0
