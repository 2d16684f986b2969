"""Every wait of the service on the database is bounded: locks, statements, and poolers too."""

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask import Flask

from candlesvc.history.importer import FilePlan, import_file
from candlesvc.history.rows import ImportSpec
from candlesvc.model.timezones import parse_zone
from candlesvc.service.app import create_app
from tests.conftest import API_KEY
from tests.helpers import candle, minute_candles, post, rows
from tests.pgbouncer import pgbouncer
from tests.service.test_faults import slow_inserts

LOCK_MS = 300
KEY = {"X-API-KEY": API_KEY}


@pytest.fixture
def bounded_app(app_env: dict[str, str]) -> Iterator[Flask]:
    """The service with short lock and statement timeouts."""
    app = create_app(app_env | {"LOCK_TIMEOUT_MS": str(LOCK_MS), "STATEMENT_TIMEOUT_MS": "600"})
    yield app
    app.extensions["candlesvc.pool"].close()


def holding(url: str, sql: str) -> psycopg.Connection[Any]:
    """A session that has run `sql` in a transaction it keeps open."""
    conn = psycopg.connect(url)
    conn.execute(sql)
    return conn


def timed(call: Any) -> tuple[Any, float]:
    """The call's result and how long it took."""
    began = time.monotonic()
    return call(), time.monotonic() - began


def test_a_write_of_a_locked_key_gets_a_503_after_the_lock_timeout(bounded_app, database_url, db):
    locker = holding(
        database_url,
        "INSERT INTO market_data_candles (symbol, timeframe,"
        ' "timestamp", open, high, low, close, volume) VALUES'
        " ('EURUSD', 'M1', '2024-01-02T10:00:00Z', 1, 1, 1, 1, 0)",
    )
    try:
        response, waited = timed(lambda: post(bounded_app.test_client(), {"candles": [candle()]}))
    finally:
        locker.rollback()
        locker.close()
    assert response.status_code == 503, response.get_json()
    assert int(response.headers["Retry-After"]) > 0
    assert "locked" in response.get_json()["detail"]
    assert waited < 3
    assert post(bounded_app.test_client(), {"candles": [candle()]}).status_code == 201


def test_a_write_during_an_import_of_the_same_bars_gets_a_503(
    bounded_app, database_url, db, tmp_path
):
    path = tmp_path / "EURUSD_M1_202401010000_202401020000.csv"
    lines = [
        f"2024.01.01\t{i // 60:02}:{i % 60:02}:00\t1.1\t1.2\t1.0\t1.15\t{i}\t0\t0\n"
        for i in range(1440)
    ]
    path.write_text(
        "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
        + "".join(lines)
    )
    answers: list[tuple[Any, float]] = []

    def post_meanwhile(report: Any, chunk: Any) -> None:
        if not answers:  # the import's transaction now holds the first chunk's keys
            body = {"candles": [candle(timestamp="2024-01-01T00:00:00Z")]}
            answers.append(timed(lambda: post(bounded_app.test_client(), body)))

    spec = ImportSpec("EURUSD", "M1", parse_zone("UTC"), chunk_size=500)
    report = import_file(FilePlan(str(path), spec, jobs=1), database_url, on_chunk=post_meanwhile)
    ((response, waited),) = answers
    assert response.status_code == 503
    assert waited < 3
    assert report.added == 1440
    assert len(rows(db)) == 1440


@pytest.mark.parametrize("path", ["/api/v1/candles", "/api/v1/candles/latest"])
def test_a_read_behind_a_table_lock_gets_a_503(bounded_app, database_url, path):
    locker = holding(database_url, "LOCK TABLE market_data_candles IN ACCESS EXCLUSIVE MODE")
    try:
        response, waited = timed(
            lambda: bounded_app.test_client().get(f"{path}?symbol=EURUSD&timeframe=M1", headers=KEY)
        )
    finally:
        locker.rollback()
        locker.close()
    assert response.status_code == 503
    assert waited < 3


def test_a_slow_statement_gets_a_503_after_the_statement_timeout(bounded_app, db):
    slow_inserts(db, 5)
    response, waited = timed(
        lambda: post(bounded_app.test_client(), {"candles": [candle(symbol="SLOW")]})
    )
    assert response.status_code == 503
    assert "in time" in response.get_json()["detail"]
    assert waited < 3
    assert rows(db) == []


@pytest.mark.slow
@pytest.mark.parametrize("size", [1, 200])
def test_timeouts_hold_behind_a_transaction_pooler(app_env, postgresql, db, size):
    with pgbouncer(pool_size=2) as bouncer:
        url = bouncer.url(postgresql.info.dbname)
        app = create_app(app_env | {"DATABASE_URL": url, "LOCK_TIMEOUT_MS": str(LOCK_MS)})
        locker = holding(
            app_env["DATABASE_URL"],
            "INSERT INTO market_data_candles (symbol,"
            ' timeframe, "timestamp", open, high, low, close, volume) VALUES'
            " ('EURUSD', 'M1', '2024-01-02T00:00:00Z', 1, 1, 1, 1, 0)",
        )
        try:
            response, waited = timed(
                lambda: post(app.test_client(), {"candles": minute_candles(size)})
            )
        finally:
            locker.rollback()
            locker.close()
            app.extensions["candlesvc.pool"].close()
    assert response.status_code == 503
    assert waited < 3
