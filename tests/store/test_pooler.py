"""Ingestion through a real PgBouncer in transaction mode, the stand-in for Supabase's port 6543."""

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from psycopg import sql
from typer.testing import CliRunner

from candlesvc.cli.main import app as cli_app
from candlesvc.model.candle import CANDLE, Candle
from candlesvc.service.app import create_app
from candlesvc.store import table
from candlesvc.store.writer import SMALL_BATCH, CandleWriter, OnConflict
from tests.conftest import API_KEY
from tests.helpers import rows
from tests.pgbouncer import Bouncer, pgbouncer

pytestmark = pytest.mark.slow  # a real PgBouncer

STAGED = sql.SQL("SELECT count(*) FROM {}").format(table.STAGING)
EPOCH = datetime(2023, 1, 2, tzinfo=UTC)
SMALL, LARGE = 40, 150  # the writer's array path (<= SMALL_BATCH) and its COPY staging path
IGNORE, UPDATE = "/api/v1/candles", "/api/v1/candles?on_conflict=update"
MT5_HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"
Results = list[tuple[int, dict[str, Any]]]


@pytest.fixture(scope="module")
def bouncer(pg_cluster: Any) -> Iterator[Bouncer]:
    """PgBouncer with three server connections per database."""
    with pgbouncer(pool_size=3) as running:
        yield running


@pytest.fixture(scope="module")
def one_server(pg_cluster: Any) -> Iterator[Bouncer]:
    """PgBouncer with a single server connection per database: every client shares it."""
    with pgbouncer(pool_size=1) as running:
        yield running


def pooled_app(bouncer: Bouncer, dbname: str, prepared: bool = False, size: int = 4) -> Flask:
    """The service, connected through PgBouncer, with `size` client connections."""
    return create_app(
        {
            "DATABASE_URL": bouncer.url(dbname),
            "MT5_API_KEY": API_KEY,
            "PREPARED_STATEMENTS": str(prepared).lower(),
            "POOL_MIN_SIZE": str(size),
            "POOL_MAX_SIZE": str(size),
            "POOL_TIMEOUT_MS": "10000",
        }
    )


def bar(minute: int, version: int = 1) -> dict[str, Any]:
    """The M1 candle at `minute`; every field depends on the minute and the version only."""
    price = f"{version}.{minute:04d}"
    return {
        "symbol": "EURUSD",
        "timeframe": "M1",
        "timestamp": (EPOCH + timedelta(minutes=minute)).isoformat(),
        "open": price + "2",
        "high": price + "9",
        "low": price + "0",
        "close": price + "5",
        "volume": minute * 10 + version,
    }


def stored(minute: int, version: int = 1) -> tuple[Any, ...]:
    """`bar(minute, version)` as tests.helpers.rows returns it."""
    prices = (Decimal(f"{version}.{minute:04d}{digit}") for digit in "2905")
    return ("EURUSD", "M1", EPOCH + timedelta(minutes=minute), *prices, minute * 10 + version)


def candles(minutes: range, version: int = 1) -> list[Candle]:
    """Validated candles, for calling the writer directly."""
    return [CANDLE.validate_python(bar(m, version)) for m in minutes]


def run_clients(jobs: list[Callable[[], object]]) -> None:
    """Run each job in its own thread, all at once; re-raise the first failure."""
    errors: list[BaseException] = []

    def guarded(job: Callable[[], object]) -> None:
        try:
            job()
        except BaseException as error:  # re-raised below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


class Poster:
    """One HTTP client: posts batches and keeps every status and body."""

    def __init__(self, app: Flask, results: Results) -> None:
        self._client = app.test_client()
        self._results = results

    def send(self, url: str, batch: list[dict[str, Any]]) -> None:
        """POST one batch."""
        response = self._client.post(url, json={"candles": batch}, headers={"X-API-KEY": API_KEY})
        self._results.append((response.status_code, response.get_json()))


def totals(results: Results) -> tuple[int, ...]:
    """Sums of received, added, updated and duplicates; each response must add up."""
    sums = [0, 0, 0, 0]
    for _, body in results:
        parts = (
            body["received"],
            body["records_added"],
            body.get("records_updated", 0),
            body["duplicates"],
        )
        assert parts[0] == sum(parts[1:]), body
        sums = [total + part for total, part in zip(sums, parts, strict=True)]
    return tuple(sums)


def connections(bouncer: Bouncer, dbname: str) -> tuple[int, int]:
    """How many client and server connections PgBouncer holds for the database now."""
    clients = [c for c in bouncer.show("CLIENTS") if c["database"] == dbname]
    servers = [s for s in bouncer.show("SERVERS") if s["database"] == dbname]
    return len(clients), len(servers)


def test_concurrent_ingestion_without_prepared_statements_is_exact(bouncer, postgresql, db):
    app = pooled_app(bouncer, postgresql.info.dbname)
    first: Results = []
    second: Results = []
    try:
        run_clients([partial(_overlapping_windows, Poster(app, first), n) for n in range(6)])
        clients, servers = connections(bouncer, postgresql.info.dbname)
        run_clients([partial(_corrections, Poster(app, second), n) for n in range(6)])
    finally:
        app.extensions["candlesvc.pool"].close()
    assert clients == 4
    assert 1 <= servers <= bouncer.pool_size  # four clients took turns on at most three servers
    minutes, corrected = range(475), {m for n in range(6) for m in range(n * 60, n * 60 + 50)}
    assert {status for status, _ in first + second} == {201}
    received = 6 * 4 * (SMALL + 1 + LARGE + 1)
    assert totals(first) == (received, len(minutes), 0, received - len(minutes))
    received = 6 * (20 + LARGE + 60 + SMALL)
    assert totals(second) == (received, 0, len(corrected), received - len(corrected))
    assert rows(db) == [stored(m, 2 if m in corrected else 1) for m in minutes]


def _overlapping_windows(poster: Poster, n: int) -> None:
    """Eight windows overlapping other threads' (minutes 0-474 in all), both sizes and modes."""
    for k in range(8):
        start, size = n * 30 + k * 25, LARGE if k % 2 else SMALL
        batch = [*(bar(m) for m in reversed(range(start, start + size))), bar(start)]
        poster.send(UPDATE if (n + k) % 3 == 0 else IGNORE, batch)


def _corrections(poster: Poster, n: int) -> None:
    """Correct this thread's own 50 minutes (a small and a large batch); re-send changed bars
    without on_conflict=update, which must change nothing."""
    own = range(n * 60, n * 60 + 50)
    poster.send(UPDATE, [bar(m, 2) for m in own[:20]])
    poster.send(IGNORE, [bar(m, 3) for m in range(n * 40, n * 40 + LARGE)])
    poster.send(UPDATE, [bar(m, 2) for m in own[20:]] * 2)
    poster.send(IGNORE, [bar(m, 3) for m in range(n * 40, n * 40 + SMALL)])


def test_many_clients_on_one_server_connection_share_the_staging_table_not_its_rows(
    one_server, postgresql, db
):
    app = pooled_app(one_server, postgresql.info.dbname, size=8)
    results: Results = []
    try:
        run_clients([partial(_staged_batches, Poster(app, results), n) for n in range(8)])
        assert connections(one_server, postgresql.info.dbname) == (8, 1)
    finally:
        app.extensions["candlesvc.pool"].close()
    assert {status for status, _ in results} == {201}
    assert totals(results)[1:3] == (8 * 100 + 50, 8 * 49)
    corrected = {m for m in range(800) if 0 < m % 100 < 50}  # n * 100 is resent last, unchanged
    assert rows(db) == [stored(m, 2 if m in corrected else 1) for m in range(8 * 100 + 50)]
    staging = db.execute("SELECT count(*) FROM pg_class WHERE relname = %s", [table.STAGING_NAME])
    assert staging.fetchone() == (1,)  # created once, on the one server connection


def _staged_batches(poster: Poster, n: int) -> None:
    """COPY-path batches overlapping the next thread's, then corrections of this thread's
    minutes 1-49: minute 0 is corrected too but re-sent unchanged last, and the last wins."""
    own = range(n * 100, n * 100 + 100)
    poster.send(IGNORE, [bar(m) for m in range(n * 100, n * 100 + LARGE)])
    poster.send(UPDATE, [bar(m, 2) for m in own[:50]] + [bar(m) for m in own[50:]] + [bar(n * 100)])


def test_staging_rows_never_outlive_a_transaction_on_a_shared_server(one_server, postgresql, db):
    url = one_server.url(postgresql.info.dbname)
    with (
        psycopg.connect(url, prepare_threshold=None) as first,
        psycopg.connect(url, prepare_threshold=None) as second,
        psycopg.connect(url, prepare_threshold=None) as third,
    ):
        with first.transaction(force_rollback=True):
            CandleWriter(first).write(two_series(range(0, LARGE)))
            pids = {backend_pid(first)}
        with second.transaction():
            result = CandleWriter(second).write(two_series(range(1000, 1000 + LARGE)))
            pids.add(backend_pid(second))
        with third.transaction():  # `third` never created the table: `first` did, on the server
            leftover = third.execute(STAGED).fetchone()
            pids.add(backend_pid(third))
    assert len(pids) == 1
    assert leftover == (0,)
    assert (result.received, result.added) == (LARGE + 1, LARGE + 1)
    assert rows(db)[:-1] == [stored(m) for m in range(1000, 1000 + LARGE)]
    assert rows(db)[-1][0] == "GBPUSD"


def two_series(minutes: range) -> list[Candle]:
    """The EURUSD bars at `minutes` and one GBPUSD bar: a batch the writer stages."""
    batch = candles(minutes)
    return [*batch, replace(batch[0], symbol="GBPUSD")]


def backend_pid(conn: psycopg.Connection[Any]) -> int:
    """The server process this client's current transaction runs on."""
    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("threshold", [5, None])
def test_prepared_statements_collide_on_a_shared_server_connection(
    one_server, postgresql, db, threshold
):
    url = one_server.url(postgresql.info.dbname)
    outcomes = []
    with (
        psycopg.connect(url, prepare_threshold=threshold) as first,
        psycopg.connect(url, prepare_threshold=threshold) as second,
    ):
        for n, conn in enumerate([first] * 6 + [second] * 6):
            try:
                with conn.transaction():
                    CandleWriter(conn).write(candles(range(n * 10, n * 10 + 10)))
                outcomes.append("ok")
            except psycopg.Error as error:
                outcomes.append(f"{error.sqlstate}: {error}")
    if threshold is None:
        assert outcomes == ["ok"] * 12
        assert len(rows(db)) == 120
    else:  # psycopg prepares the 6th execution as _pg3_0; the first client already did that
        assert outcomes == ["ok"] * 11 + ['42P05: prepared statement "_pg3_0" already exists']
        assert len(rows(db)) == 110


def test_prepared_statement_from_another_client_runs_in_place_of_ones_own(bouncer, postgresql, db):
    """PgBouncer reuses the most recently released server: `second` gets `first`'s server."""
    url = bouncer.url(postgresql.info.dbname)
    with (
        psycopg.connect(url, prepare_threshold=5) as first,
        psycopg.connect(url, prepare_threshold=5) as second,
    ):
        for n in range(6):  # both inside one transaction each, so on two different servers
            CandleWriter(first, OnConflict.UPDATE).write(candles(range(n, n + 1)))
            CandleWriter(second).write(candles(range(100 + n, 101 + n)))  # same parameters
        second.commit()
        first.commit()  # released last, so handed out next
        ignored = CandleWriter(second).write(candles(range(0, 1), version=2))
        second.commit()
    assert rows(db)[0] == stored(0, 2)  # an ignore write replaced a stored bar
    assert (ignored.received, ignored.updated) == (1, 0)  # and reports no bar changed


def test_prepared_statements_on_make_requests_fail(one_server, postgresql, db, capsys):
    app = pooled_app(one_server, postgresql.info.dbname, prepared=True)
    results: Results = []
    try:
        run_clients([partial(_small_batches, Poster(app, results), n) for n in range(4)])
    finally:
        app.extensions["candlesvc.pool"].close()
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line[:1] == "{"]
    sqlstates = {entry["sqlstate"] for entry in logged if "sqlstate" in entry}
    statuses = [status for status, _ in results]
    assert set(statuses) == {201, 500}
    assert sqlstates
    assert sqlstates <= {"42P05", "26000"}  # prepared statement already exists / does not exist
    assert len(rows(db)) == 10 * statuses.count(201)  # a failed batch stored nothing


def _small_batches(poster: Poster, n: int) -> None:
    """Twenty array-path batches of ten new candles each."""
    for k in range(20):
        start = n * 1000 + k * 10
        poster.send(IGNORE, [bar(m) for m in range(start, start + 10)])


def mt5_file(folder: Path, minutes: range = range(1440)) -> Path:
    """An MT5 "Export bars" file of 2023-01-02 holding `bar(m)` for each minute."""
    lines = [MT5_HEADER]
    for m in minutes:
        price = f"1.{m:04d}"
        lines.append(
            f"2023.01.02\t{m // 60:02}:{m % 60:02}:00\t{price}2\t{price}9\t{price}0"
            f"\t{price}5\t{m * 10 + 1}\t0\t0\n"
        )
    path = folder / "EURUSD_M1_202301020000_202301022359.csv"
    path.write_text("".join(lines))
    return path


def import_command(path: Path, url: str) -> list[str]:
    """`candlesvc import` in chunks of 200 rows (8 chunks a day), with a JSON summary."""
    return ["import", str(path), "--chunk-size", "200", "--json", "--database-url", url]


def test_import_runs_through_pgbouncer_alongside_http_ingestion(bouncer, postgresql, db, tmp_path):
    app = pooled_app(bouncer, postgresql.info.dbname)
    url = bouncer.url(postgresql.info.dbname)
    command = [
        str(Path(sys.executable).with_name("candlesvc")),
        *import_command(mt5_file(tmp_path), url),
    ]
    results: Results = []
    try:
        importer = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        run_clients(
            [partial(_day_windows, Poster(app, results), n, importer.poll) for n in range(4)]
        )
        output, errors = importer.communicate(timeout=120)
    finally:
        app.extensions["candlesvc.pool"].close()
    assert importer.returncode == 0, errors.decode()
    report = json.loads(output)["files"][0]
    assert {status for status, _ in results} == {201}
    assert report["added"] + totals(results)[1] == 1440
    assert report["added"] + report["duplicates"] == 1440
    assert rows(db) == [stored(m) for m in range(1440)]


def _day_windows(poster: Poster, n: int, exit_code: Callable[[], int | None]) -> None:
    """The file's own bars, over the whole day in both sizes and modes, until the import ends."""
    deadline = time.monotonic() + 60
    while True:
        for k in range(6):
            start, size = (n * 6 + k) * 60, LARGE if k % 2 else SMALL
            window = range(start, min(start + size, 1440))
            poster.send(UPDATE if k % 3 == 0 else IGNORE, [bar(m) for m in window])
        if exit_code() is not None or time.monotonic() > deadline:
            return


def test_reimport_through_pgbouncer_adds_nothing(one_server, postgresql, db, tmp_path):
    command = import_command(mt5_file(tmp_path), one_server.url(postgresql.info.dbname))
    first = CliRunner().invoke(cli_app, command)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["files"][0]["added"] == 1440
    again = CliRunner().invoke(cli_app, command)
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["files"][0]["duplicates"] == 1440
    assert rows(db) == [stored(m) for m in range(1440)]


def test_batch_sizes_cover_both_writer_paths():
    assert SMALL + 1 <= SMALL_BATCH < LARGE
