"""Real faults: a stopped database server, and many clients posting overlapping batches."""

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask

from candlesvc.service.app import create_app
from candlesvc.store.localdb import LocalCluster
from tests.conftest import API_KEY
from tests.helpers import minute_candles, post, rows

pytestmark = pytest.mark.slow  # a database stopped and started


@pytest.fixture
def outage_app(own_cluster: tuple[LocalCluster, str]) -> Iterator[Flask]:
    env = {"DATABASE_URL": own_cluster[1], "MT5_API_KEY": API_KEY, "POOL_TIMEOUT_MS": "1500"}
    app = create_app(env)
    yield app
    app.extensions["candlesvc.pool"].close()


def test_stopped_database_gives_503_then_recovers_without_restart(own_cluster, outage_app):
    cluster, url = own_cluster
    client = outage_app.test_client()
    assert post(client, {"candles": minute_candles(2)}).status_code == 201
    cluster.stop()
    down = post(client, {"candles": minute_candles(2, 2)})
    assert down.status_code == 503
    assert down.headers["Retry-After"] == "5"
    assert down.mimetype == "application/problem+json"
    assert client.get("/health/ready").status_code == 503
    assert client.get("/health").status_code == 200
    cluster.start()
    assert post(client, {"candles": minute_candles(2, 2)}).status_code == 201
    assert client.get("/health/ready").status_code == 200
    with psycopg.connect(url) as conn:
        assert [r[7] for r in rows(conn)] == [0, 1, 0, 1]


def test_concurrent_overlapping_batches_store_each_candle_once(app, db):
    results: list[Any] = []
    errors: list[BaseException] = []

    def client_loop(offset: int) -> None:
        client = app.test_client()
        try:
            for start in range(0, 400, 50):  # windows overlap across clients
                batch = minute_candles(100, start + offset)
                results.append(post(client, {"candles": batch[::-1]}).get_json())
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=client_loop, args=(n * 25,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert all(set(r) == {"received", "records_added", "duplicates"} for r in results)
    stored = rows(db)
    assert len(stored) == 400 + 5 * 25 + 50
    assert len({r[2] for r in stored}) == len(stored)
    assert sum(r["records_added"] for r in results) == len(stored)
