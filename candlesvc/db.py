"""Connections and the schema: the connection pool and the versioned files in sql/."""

import hashlib
import select
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from candlesvc.settings import Settings

SQL_DIR: Traversable = files("candlesvc.sql")  # the repository's sql/, installed as package data
_LEDGER = """
CREATE TABLE IF NOT EXISTS candlesvc_schema_migrations (
    filename   TEXT PRIMARY KEY,
    sha256     TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""
_LOCK_ID = 7_415_301  # advisory lock held while migrating, so concurrent inits serialise


class NoMigrationsError(RuntimeError):
    """No schema files were found: the installation is broken."""


@dataclass(frozen=True)
class Migration:
    """One schema file and its checksum."""

    filename: str
    sql: str

    @property
    def sha256(self) -> str:
        """Checksum of the file's text."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def connect_kwargs(prepared_statements: bool) -> dict[str, Any]:
    """Connection options; without prepared statements they are safe behind any pooler."""
    return {"prepare_threshold": 5 if prepared_statements else None}


def make_pool(settings: Settings) -> ConnectionPool:
    """A closed pool of autocommit connections for one worker process; open it after fork."""
    return ConnectionPool(
        settings.database_url,
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        timeout=settings.pool_timeout,
        kwargs={"autocommit": True, **connect_kwargs(settings.prepared_statements)},
        check=check_alive,
        open=False,
        name="candlesvc",
    )


# Set per transaction, so that it holds behind a transaction-mode pooler too.
_BOUNDS = "SELECT set_config('lock_timeout', %s, true), set_config('statement_timeout', %s, true)"


@contextmanager
def bounded(pool: ConnectionPool, settings: Settings) -> Iterator[psycopg.Connection[Any]]:
    """A pooled connection in a transaction whose lock waits and statements are bounded."""
    with pool.connection() as conn, conn.transaction():
        limits = (settings.lock_timeout, settings.statement_timeout)
        conn.execute(_BOUNDS, [f"{round(seconds * 1000)}ms" for seconds in limits])
        yield conn


def check_alive(conn: psycopg.Connection[Any]) -> None:
    """Refuse a pooled connection the server has closed, without a round trip.

    An idle connection receives nothing unless the server ends it (a restart,
    pg_terminate_backend, a pooler closing it): its socket is then readable. The
    connection is closed before refusing it, so the pool replaces it.
    """
    try:
        if not conn.closed and not readable(conn.fileno()):
            return
    except (OSError, ValueError, psycopg.Error):
        pass
    conn.close()
    raise psycopg.OperationalError("the server closed the connection")


def readable(fd: int) -> bool:
    """Whether a socket has data or an end of file waiting (poll: any descriptor number)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def migrations(directory: Traversable = SQL_DIR) -> list[Migration]:
    """The schema files in the order they apply; NoMigrationsError if there are none."""
    found = sorted(
        (p for p in directory.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name
    )
    if not found:
        raise NoMigrationsError(f"no schema files (*.sql) in {directory}: the install is broken")
    return [Migration(p.name, p.read_text(encoding="utf-8")) for p in found]


def apply_migrations(database_url: str, directory: Traversable = SQL_DIR) -> list[str]:
    """Apply the schema files not yet applied; return the names applied now."""
    applied_now = []
    pending = migrations(directory)
    with psycopg.connect(database_url, autocommit=True, **connect_kwargs(False)) as conn:
        conn.execute(_LEDGER)
        for migration in pending:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
                if _already_applied(conn, migration):
                    continue
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO candlesvc_schema_migrations (filename, sha256) VALUES (%s, %s)",
                    (migration.filename, migration.sha256),
                )
                applied_now.append(migration.filename)
    return applied_now


def _already_applied(conn: psycopg.Connection[Any], migration: Migration) -> bool:
    row = conn.execute(
        "SELECT sha256 FROM candlesvc_schema_migrations WHERE filename = %s",
        (migration.filename,),
    ).fetchone()
    if row and row[0] != migration.sha256:
        raise RuntimeError(f"{migration.filename} changed after it was applied; add a new file")
    return row is not None
