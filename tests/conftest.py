"""Test fixtures: a real PostgreSQL started by the test run, a fresh database per test."""

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from psycopg import sql
from pytest_postgresql import factories

from candlesvc.service.app import create_app
from candlesvc.store.localdb import SUPERUSER, LocalCluster, LocalDbError, free_port
from candlesvc.store.schema import apply_migrations

pytest_plugins = ("tests.supabase", "tests.artifacts")  # Supabase-shaped cluster; screenshots
API_KEY = "test-key-" + "k" * 32
OTHER_KEY = "rotated-key-" + "r" * 32
PG_PORT = free_port()
PG_PASSWORD = secrets.token_urlsafe(16)
THROWAWAY = ("fsync", "synchronous_commit", "full_page_writes")  # the shared test server's


def scratch_dir() -> Path:
    """A temporary folder an unprivileged PostgreSQL user can traverse."""
    path = Path(tempfile.mkdtemp(prefix="candlesvc-test-"))
    path.chmod(0o755)
    return path


@pytest.fixture(scope="session", autouse=True)
def pg_cluster() -> Iterator[LocalCluster]:
    """One PostgreSQL server for the whole run, stopped and removed at the end."""
    root = scratch_dir()
    try:
        cluster = LocalCluster(root / "cluster")
    except LocalDbError as error:
        pytest.fail(str(error), pytrace=False)
    cluster.ensure_running(PG_PORT, PG_PASSWORD)
    with psycopg.connect(db_url("postgres"), autocommit=True) as conn:
        for setting in THROWAWAY:  # each test clones a database: no need to outlive a crash
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = off").format(sql.Identifier(setting)))
        conn.execute("SELECT pg_reload_conf()")
    yield cluster
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


def load_schema(**kwargs: Any) -> None:
    """Apply sql/ to the template database exactly as `candlesvc db init` does."""
    apply_migrations(db_url(kwargs["dbname"]))


def db_url(dbname: str, port: int = PG_PORT) -> str:
    """The URL of a database on the test server."""
    return f"postgresql://{SUPERUSER}:{PG_PASSWORD}@127.0.0.1:{port}/{dbname}"


postgresql_noproc = factories.postgresql_noproc(
    host="127.0.0.1",
    port=PG_PORT,
    user=SUPERUSER,
    password=PG_PASSWORD,
    dbname="candles",
    load=[load_schema],
)


@pytest.fixture
def postgresql(postgresql_noproc: Any) -> Iterator[psycopg.Connection[Any]]:
    """A database of this test's own, a copy of the schema's template, dropped afterwards.

    Copied file by file (STRATEGY FILE_COPY): on this throwaway server, about four times
    faster than the default, which writes the whole template to the WAL.
    """
    name = f"candles_{secrets.token_hex(6)}"
    create = "CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY"
    with psycopg.connect(db_url("postgres"), autocommit=True) as admin:
        admin.execute(
            sql.SQL(create).format(
                sql.Identifier(name), sql.Identifier(postgresql_noproc.template_dbname)
            )
        )
    try:
        with psycopg.connect(db_url(name)) as conn:
            yield conn
    finally:
        with psycopg.connect(db_url("postgres"), autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def own_cluster() -> Iterator[tuple[LocalCluster, str]]:
    """A private server this test may stop and start."""
    root = scratch_dir()
    cluster = LocalCluster(root / "cluster")
    info = cluster.ensure_running()
    url = cluster.ensure_database(info, "candles")
    apply_migrations(url)
    yield cluster, url
    cluster.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def database_url(postgresql: psycopg.Connection[Any]) -> str:
    """URL of this test's own freshly cloned database."""
    return db_url(postgresql.info.dbname)


@pytest.fixture
def app_env(database_url: str) -> dict[str, str]:
    """The environment a test app is built from."""
    return {
        "DATABASE_URL": database_url,
        "MT5_API_KEY": f"{API_KEY},{OTHER_KEY}",
        "CORS_ORIGINS": "https://dash.example.com",
        "POOL_TIMEOUT_MS": "2000",
        "LOG_LEVEL": "INFO",
    }


@pytest.fixture
def app(app_env: dict[str, str]) -> Iterator[Flask]:
    """The service, wired to this test's database."""
    app = create_app(app_env)
    app.extensions["candlesvc.pool"].wait()
    yield app
    app.extensions["candlesvc.pool"].close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for the service."""
    return app.test_client()


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection for asserting on stored rows."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the developer's own settings out of the tests."""
    for name in ("DATABASE_URL", "MT5_API_KEY", "CORS_ORIGINS", "SOURCE_TZ", "MAX_BATCH"):
        monkeypatch.delenv(name, raising=False)
    os.environ.setdefault("TZ", "UTC")
