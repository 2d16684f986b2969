"""Real faults in the app: a killed backend, an exhausted pool, a statement timeout."""

import os
import resource
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask

from candlesvc.service.app import create_app
from candlesvc.store.pool import readable
from tests.conftest import API_KEY, scratch_dir
from tests.helpers import candle, minute_candles, post, rows

pytestmark = pytest.mark.slow  # killed backends, a full disk, stopped servers

SLOW_TRIGGER = (
    "CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN IF NEW.symbol = 'SLOW' THEN PERFORM pg_sleep({seconds}); END IF; RETURN NEW; END $$;"
    " CREATE TRIGGER slow_insert BEFORE INSERT ON market_data_candles"
    " FOR EACH ROW EXECUTE FUNCTION slow_insert()"
)


def slow_inserts(db: psycopg.Connection[Any], seconds: float) -> None:
    """Make every insert of symbol SLOW take `seconds` inside the database."""
    db.execute(SLOW_TRIGGER.format(seconds=seconds).encode())


def in_background(fn: Any) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(fn()))
    thread.start()
    return thread, result


def wait_for_backend(db: psycopg.Connection[Any]) -> int:
    """The pid of the backend running the slow insert, once it is running."""
    for _ in range(100):
        row = db.execute(
            "SELECT pid FROM pg_stat_activity WHERE query LIKE 'INSERT INTO %market_data_candles%'"
            " AND state = 'active' AND pid <> pg_backend_pid()"
        ).fetchone()
        if row:
            return int(row[0])
        time.sleep(0.05)
    raise AssertionError("the insert never started")


@pytest.fixture
def small_pool_app(app_env: dict[str, str]) -> Iterator[Flask]:
    app = create_app(app_env | {"POOL_MAX_SIZE": "1", "POOL_TIMEOUT_MS": "500"})
    yield app
    app.extensions["candlesvc.pool"].close()


def test_backend_killed_mid_batch_rolls_back_and_next_request_works(client, db):
    slow_inserts(db, 3)
    thread, result = in_background(lambda: post(client, {"candles": [candle(symbol="SLOW")]}))
    db.execute("SELECT pg_terminate_backend(%s)", (wait_for_backend(db),))
    thread.join()
    assert result[0].status_code == 503
    assert result[0].headers["Retry-After"]
    assert rows(db) == []
    assert post(client, {"candles": minute_candles(2)}).status_code == 201
    assert len(rows(db)) == 2


def test_idle_pooled_connection_ended_by_the_server_is_replaced_unnoticed(small_pool_app, db):
    client = small_pool_app.test_client()
    assert post(client, {"candles": minute_candles(1)}).status_code == 201
    ended = db.execute(
        "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND backend_type = 'client backend'"
        " AND pid <> pg_backend_pid()"
    ).fetchone()
    assert ended
    assert ended[0] >= 1
    assert post(client, {"candles": minute_candles(2, 1)}).status_code == 201
    assert len(rows(db)) == 3


def test_the_liveness_check_reads_any_descriptor_number():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 2048)), hard))
    here, there = socket.socketpair()
    high = os.dup2(here.fileno(), 1050)  # select() refuses descriptors from 1024 on
    try:
        assert not readable(high)
        there.close()  # the peer ends the connection: end of file is waiting
        assert readable(high)
    finally:
        os.close(high)
        here.close()


def test_exhausted_pool_gives_503_in_bounded_time_and_health_answers(small_pool_app, db):
    slow_inserts(db, 2)
    client = small_pool_app.test_client()
    holder, _ = in_background(lambda: post(client, {"candles": [candle(symbol="SLOW")]}))
    wait_for_backend(db)
    started = time.monotonic()
    waiting = post(client, {"candles": minute_candles(1)})
    waited = time.monotonic() - started
    assert client.get("/health").status_code == 200
    holder.join()
    assert waiting.status_code == 503
    assert 0.4 < waited < 1.5
    assert [r[0] for r in rows(db)] == ["SLOW"]


def test_statement_timeout_is_a_503_problem_logged_with_request_id(app_env, db, capsys):
    slow_inserts(db, 2)
    app = create_app(app_env | {"STATEMENT_TIMEOUT_MS": "300"})
    try:
        response = post(
            app.test_client(),
            {"candles": [candle(symbol="SLOW")]},
            headers={"X-Request-ID": "slow-1"},
        )
    finally:
        app.extensions["candlesvc.pool"].close()
    assert response.status_code == 503
    assert "in time" in response.get_json()["detail"]
    assert "statement" not in response.get_data(as_text=True)
    logged = [line for line in capsys.readouterr().err.splitlines() if "57014" in line]
    assert logged
    assert '"request_id": "slow-1"' in logged[0]
    assert rows(db) == []


@pytest.fixture
def full_disk_url(own_cluster: tuple[Any, str]) -> Iterator[str]:
    """The table moved onto a 1 MiB file system, so inserts soon hit a real ENOSPC."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mount = scratch_dir() / "tiny"
    mount.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    ).returncode:
        pytest.skip("this machine does not allow mounting a tmpfs")
    try:
        shutil.chown(mount, "postgres", "postgres")
        with psycopg.connect(own_cluster[1], autocommit=True) as conn:
            conn.execute(f"CREATE TABLESPACE tiny LOCATION '{mount}'".encode())
            conn.execute("ALTER TABLE market_data_candles SET TABLESPACE tiny")
        yield own_cluster[1]
    finally:
        own_cluster[0].stop()
        subprocess.run(["umount", "-l", str(mount)], check=False)
        shutil.rmtree(mount.parent, ignore_errors=True)


def test_full_disk_is_a_503_problem_logged_with_request_id(full_disk_url, capsys):
    app = create_app({"DATABASE_URL": full_disk_url, "MT5_API_KEY": API_KEY})
    client = app.test_client()
    try:
        statuses = [
            post(
                client,
                {"candles": minute_candles(1000, 1000 * n)},
                headers={"X-Request-ID": f"disk-{n}"},
            ).status_code
            for n in range(40)
        ]
    finally:
        app.extensions["candlesvc.pool"].close()
    first_failure = statuses.index(503)
    assert set(statuses[:first_failure]) == {201}
    logged = [line for line in capsys.readouterr().err.splitlines() if "53100" in line]
    assert f'"request_id": "disk-{first_failure}"' in logged[0]
    with psycopg.connect(full_disk_url) as conn:
        stored = conn.execute("SELECT count(*) FROM market_data_candles").fetchone()
    assert stored == (1000 * first_failure,)
