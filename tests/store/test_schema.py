"""The schema in sql/: constraints that mirror validation, RLS, and idempotent `db init`.

Every test that takes a database runs twice: on plain PostgreSQL, and on a database shaped
like Supabase's (tests/supabase.py), where `db init` runs as the demoted `postgres`.
"""

import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql
from typer.testing import CliRunner

from candlesvc.cli.main import app as cli
from candlesvc.model.candle import CANDLE, Candle
from candlesvc.store.access import write_access
from candlesvc.store.schema import LEDGER, NoMigrationsError, apply_migrations, migrations
from candlesvc.store.writer import CandleWriter, OnConflict
from tests.conftest import db_url
from tests.helpers import candle, rows
from tests.supabase import Backend, SupabaseCluster, default_privileges, role_shape

INSERT = (
    'INSERT INTO market_data_candles (symbol, timeframe, "timestamp", open, high, low, close,'
    " volume) VALUES (%(symbol)s, %(timeframe)s, %(timestamp)s, %(open)s, %(high)s, %(low)s,"
    " %(close)s, %(volume)s)"
)
GOOD = {
    "symbol": "EURUSD",
    "timeframe": "M1",
    "timestamp": datetime(2024, 1, 2, tzinfo=UTC),
    "open": "1.1",
    "high": "1.2",
    "low": "1.0",
    "close": "1.15",
    "volume": 5,
}


@pytest.fixture
def database_url(backend_database: tuple[Backend, str]) -> str:
    """This test's database, on plain PostgreSQL and on a Supabase-shaped cluster."""
    backend, dbname = backend_database
    return backend.url(dbname)


@pytest.mark.parametrize(
    "bad",
    [
        {"symbol": ""},
        {"symbol": " EURUSD"},
        {"symbol": "EURUSD "},
        {"symbol": "EUR\tUSD"},
        {"symbol": "S" * 33},
        {"timeframe": "M7"},
        {"timeframe": "m1"},
        {"open": "NaN"},
        {"high": "Infinity"},
        {"low": "-Infinity"},
        {"close": "NaN"},
        {"low": "1.12"},
        {"high": "1.12"},
        {"volume": -1},
        {"timestamp": datetime(1969, 12, 31, tzinfo=UTC)},
        {"timestamp": datetime(2100, 1, 1, tzinfo=UTC)},
        {"high": "1e20"},
        {"low": "-1e20"},
        {"open": "1.100000000000000000001"},
    ],
)
def test_database_refuses_what_the_api_refuses(db, bad):
    with pytest.raises(errors.CheckViolation):
        db.execute(INSERT, GOOD | bad)


@pytest.mark.parametrize("column", ["symbol", "timeframe", "timestamp", "open", "volume"])
def test_required_columns_are_not_null(db, column):
    with pytest.raises(errors.NotNullViolation):
        db.execute(INSERT, GOOD | {column: None})


def test_symbol_timeframe_timestamp_is_unique(db):
    db.execute(INSERT, GOOD)
    with pytest.raises(errors.UniqueViolation):
        db.execute(INSERT, GOOD | {"volume": 6})


def test_created_at_defaults_to_now(db):
    db.execute(INSERT, GOOD)
    created = db.execute("SELECT created_at FROM market_data_candles").fetchone()[0]
    assert abs((datetime.now(UTC) - created).total_seconds()) < 60


def test_row_level_security_is_enabled(db):
    enabled = db.execute(
        "SELECT relrowsecurity FROM pg_class WHERE relname = 'market_data_candles'"
    ).fetchone()
    assert enabled == (True,)


def test_authenticated_reads_but_cannot_write(db):
    db.execute(INSERT, GOOD)
    with db.transaction(force_rollback=True):
        db.execute("SET LOCAL ROLE authenticated")
        assert db.execute("SELECT count(*) FROM market_data_candles").fetchone() == (1,)
        with pytest.raises(errors.InsufficientPrivilege), db.transaction():
            db.execute(INSERT, GOOD | {"symbol": "GBPUSD"})


def test_anon_can_neither_read_nor_write(db):
    with db.transaction(force_rollback=True):
        db.execute("SET LOCAL ROLE anon")
        with pytest.raises(errors.InsufficientPrivilege), db.transaction():
            db.execute("SELECT count(*) FROM market_data_candles")
        with pytest.raises(errors.InsufficientPrivilege), db.transaction():
            db.execute(INSERT, GOOD)


def test_service_role_may_insert(db):
    with db.transaction():
        db.execute("SET LOCAL ROLE service_role")
        db.execute(INSERT, GOOD)
    assert len(rows(db)) == 1


@pytest.fixture
def ingest_login(backend_database: tuple[Backend, str]) -> Iterator[str]:
    """The URL of a dedicated login holding only the documented candles_writer grants."""
    backend, dbname = backend_database
    name = f"ingest_{secrets.token_hex(4)}"
    backend.create_login(dbname, name, "candles_writer")
    yield backend.url(dbname, name)
    backend.drop_login(dbname, name)


def test_dedicated_ingest_role_writes_through_the_writer(db, ingest_login):
    candle = CANDLE.validate_python(GOOD | {"timestamp": "2024-01-02T00:00:00Z"})
    with psycopg.connect(ingest_login) as conn:
        bypass = conn.execute("SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert bypass.fetchone() == (False,)
        first = CandleWriter(conn).write([candle, candle])
        again = CandleWriter(conn).write([candle])
    assert (first.added, first.duplicates, again.duplicates) == (1, 1, 1)
    assert rows(db)[0][3] == Decimal("1.1")


def test_db_init_applies_every_file_once_and_records_it(empty_backend_database):
    backend, dbname = empty_backend_database
    url = backend.url(dbname)
    runner = CliRunner()
    first = runner.invoke(cli, ["db", "init", "--database-url", url])
    second = runner.invoke(cli, ["db", "init"], env={"DATABASE_URL": url})
    with psycopg.connect(url) as conn:
        ledger = conn.execute(sql.SQL("SELECT filename FROM {} ORDER BY 1").format(LEDGER))
        recorded = ledger.fetchall()
        superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        assert superuser.fetchone() == (backend.name == "postgres",)
    files = [m.filename for m in migrations()]
    assert first.exit_code == 0, first.output
    assert all(f in first.output for f in files)
    assert second.exit_code == 0, second.output
    assert "up to date" in second.output
    assert [r[0] for r in recorded] == files


OLD_LEDGER = """
CREATE TABLE candlesvc_schema_migrations (
    filename   TEXT PRIMARY KEY,
    sha256     TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""


def install_as_before(url: str, count: int) -> None:
    """The first `count` files applied, and recorded in public, as db init did up to 004."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(OLD_LEDGER)
        for migration in migrations()[:count]:
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO candlesvc_schema_migrations (filename, sha256, applied_at)"
                " VALUES (%s, %s, '2024-01-01')",
                (migration.filename, migration.sha256),
            )


def test_db_init_carries_an_old_ledger_over_and_drops_it(empty_backend_database):
    backend, dbname = empty_backend_database
    url = backend.url(dbname)
    install_as_before(url, 4)
    applied = apply_migrations(url)
    with psycopg.connect(url) as conn:
        ledger = conn.execute(
            sql.SQL("SELECT filename, sha256, applied_at FROM {} ORDER BY 1").format(LEDGER)
        )
        recorded = ledger.fetchall()
        old = conn.execute("SELECT to_regclass('candlesvc_schema_migrations')").fetchone()
    files = migrations()
    assert applied == [m.filename for m in files[4:]]
    assert [(name, sha) for name, sha, _ in recorded] == [(m.filename, m.sha256) for m in files]
    assert {when.year for _, _, when in recorded[:4]} == {2024}
    assert old == (None,)


def test_db_init_refuses_a_file_changed_since_the_old_ledger_recorded_it(empty_backend_database):
    backend, dbname = empty_backend_database
    url = backend.url(dbname)
    install_as_before(url, 4)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE candlesvc_schema_migrations SET sha256 = 'edited'")
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        apply_migrations(url)


def test_db_init_leaves_supabase_roles_and_default_privileges_alone(
    supabase_cluster: SupabaseCluster, empty_supabase_database: str
):
    url = supabase_cluster.backend.url(empty_supabase_database)
    defaults = default_privileges(url)
    assert len(defaults) == 6  # postgres's and supabase_admin's: tables, sequences, functions
    apply_migrations(url)
    assert role_shape(url) == supabase_cluster.reserved_roles  # supautils forbids changing them
    assert default_privileges(url) == defaults


def test_a_changed_migration_is_refused(database_url, tmp_path):
    for migration in migrations():
        (tmp_path / migration.filename).write_text(migration.sql + "\n-- edited\n")
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        apply_migrations(database_url, tmp_path)


def test_db_init_without_schema_files_fails_and_applies_nothing(database_url, tmp_path):
    with pytest.raises(NoMigrationsError, match="no schema files"):
        apply_migrations(database_url, tmp_path)


def test_db_init_on_unreachable_database_is_one_line(pg_cluster):
    result = CliRunner().invoke(
        cli, ["db", "init", "--database-url", "postgresql://x:y@127.0.0.1:1/none"]
    )
    assert result.exit_code == 3
    assert "Traceback" not in result.output


def test_dedicated_ingest_role_may_correct_bars(db, ingest_login):
    stored = CANDLE.validate_python(GOOD | {"timestamp": "2024-01-02T00:00:00Z"})
    corrected = replace(stored, close=Decimal("1.19"), volume=9)
    with psycopg.connect(ingest_login) as conn:
        CandleWriter(conn).write([stored])
        result = CandleWriter(conn, OnConflict.UPDATE).write([corrected])
    assert (result.added, result.updated) == (0, 1)
    assert rows(db)[0][6:] == (Decimal("1.19"), 9)


def test_authenticated_cannot_update(db):
    db.execute(INSERT, GOOD)
    with db.transaction(force_rollback=True):
        db.execute("SET LOCAL ROLE authenticated")
        with pytest.raises(errors.InsufficientPrivilege), db.transaction():
            db.execute("UPDATE market_data_candles SET volume = 0")


IGNORE_MODE_MINIMUM = [
    "GRANT INSERT ON market_data_candles TO {r}",
    "GRANT USAGE ON SEQUENCE market_data_candles_id_seq TO {r}",
    'GRANT SELECT (symbol, timeframe, "timestamp") ON market_data_candles TO {r}',
    "CREATE POLICY {r}_insert ON market_data_candles FOR INSERT TO {r} WITH CHECK (true)",
    "CREATE POLICY {r}_select ON market_data_candles FOR SELECT TO {r} USING (true)",
]
UPDATE_MODE_EXTRA = [
    "GRANT SELECT ON market_data_candles TO {r}",
    "GRANT UPDATE (open, high, low, close, volume) ON market_data_candles TO {r}",
    "CREATE POLICY {r}_update ON market_data_candles FOR UPDATE TO {r} USING (true)",
]


@pytest.fixture
def bare_login(db, backend_database: tuple[Backend, str]) -> Iterator[tuple[str, Any]]:
    """The URL of a login with no privileges at all, and a way to grant it some."""
    backend, dbname = backend_database
    name = f"bare_{secrets.token_hex(4)}"
    backend.create_login(dbname, name)

    def grant(statements: list[str]) -> None:
        for statement in statements:
            db.execute(statement.format(r=name).encode())

    yield backend.url(dbname, name), grant
    backend.drop_login(dbname, name)


def write_as(url: str, mode: OnConflict, count: int) -> Any:
    # Tick volumes grow with count: an update never replaces a bar with one of fewer ticks.
    candles = [
        CANDLE.validate_python(GOOD | {"timestamp": 1_704_153_600 + 60 * i, "volume": 100 * count})
        for i in range(count)
    ]
    with psycopg.connect(url) as conn:
        return CandleWriter(conn, mode).write(candles)


def lacks(url: str, mode: OnConflict) -> tuple[str, ...]:
    """What readiness and the importer say the login lacks to write in `mode`."""
    with psycopg.connect(url) as conn:
        return write_access(conn, mode).lacks


@pytest.mark.parametrize("count", [3, 100])  # the array path and the staging path
def test_exact_privileges_each_write_mode_needs(db, bare_login, count):
    url, grant = bare_login
    db.execute(INSERT, GOOD | {"timestamp": datetime(2024, 1, 2, tzinfo=UTC)})
    grant(IGNORE_MODE_MINIMUM[:-1])
    assert lacks(url, OnConflict.IGNORE) == ("a row level security policy FOR SELECT",)
    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        write_as(url, OnConflict.IGNORE, count)
    grant(IGNORE_MODE_MINIMUM[-1:])
    assert lacks(url, OnConflict.IGNORE) == ()
    assert write_as(url, OnConflict.IGNORE, count).duplicates == 1
    assert len(lacks(url, OnConflict.UPDATE)) == len(UPDATE_MODE_EXTRA)
    with pytest.raises(errors.InsufficientPrivilege):
        write_as(url, OnConflict.UPDATE, count)
    grant(UPDATE_MODE_EXTRA)
    assert lacks(url, OnConflict.UPDATE) == ()
    assert write_as(url, OnConflict.UPDATE, count + 1).updated == count


EPOCH_2024 = 1_704_067_200


def oil_bars(count: int) -> list[Candle]:
    """M1 bars of a symbol outside ASCII."""
    sent = (candle(symbol="Öl Brent", timestamp=EPOCH_2024 + 60 * m) for m in range(count))
    return [CANDLE.validate_python(c) for c in sent]


def test_a_latin1_database_stores_symbols_exactly(pg_cluster):
    name = f"latin1_{secrets.token_hex(4)}"
    create = "CREATE DATABASE {} ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
    with psycopg.connect(db_url("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL(create).format(sql.Identifier(name)))
        try:
            apply_migrations(db_url(name))
            with psycopg.connect(db_url(name)) as conn:
                assert conn.info.encoding != "utf-8"
                oil = oil_bars(100)
                batches = [oil[:1], oil]
                results = [CandleWriter(conn).write(batch) for batch in batches]
                stored = conn.execute("SELECT DISTINCT symbol FROM market_data_candles").fetchall()
        finally:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
    assert [r.added for r in results] == [1, 99]
    assert stored == [("Öl Brent",)]
