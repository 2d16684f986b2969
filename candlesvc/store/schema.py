"""The schema: the versioned files in sql/, applied once each and recorded in a ledger."""

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import psycopg
from psycopg import sql

from candlesvc.store.pool import connect_kwargs

SQL_DIR: Traversable = files("candlesvc.sql")  # the repository's sql/, installed as package data
LEDGER = sql.Identifier("candlesvc_meta", "schema_migrations")  # out of PostgREST's reach
_OLD_LEDGER = sql.Identifier("candlesvc_schema_migrations")  # where db init kept it up to 004
_MAKE_LEDGER = sql.SQL("""
CREATE SCHEMA IF NOT EXISTS candlesvc_meta;
REVOKE ALL ON SCHEMA candlesvc_meta FROM PUBLIC;
CREATE TABLE {ledger} (
    filename   TEXT PRIMARY KEY,
    sha256     TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
REVOKE ALL ON {ledger} FROM PUBLIC;
ALTER TABLE {ledger} ENABLE ROW LEVEL SECURITY;  -- and no policy: only its owner sees it
""").format(ledger=LEDGER)
_CARRY_OVER = sql.SQL("""
INSERT INTO {ledger} SELECT filename, sha256, applied_at FROM {old} ON CONFLICT DO NOTHING;
DROP TABLE {old};
""").format(ledger=LEDGER, old=_OLD_LEDGER)
_RECORD = sql.SQL("INSERT INTO {} (filename, sha256) VALUES (%s, %s)").format(LEDGER)
_RECORDED = sql.SQL("SELECT sha256 FROM {} WHERE filename = %s").format(LEDGER)
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
        _prepare_ledger(conn)
        for migration in pending:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
                if _already_applied(conn, migration):
                    continue
                conn.execute(migration.sql.encode())
                conn.execute(_RECORD, (migration.filename, migration.sha256))
                applied_now.append(migration.filename)
    return applied_now


def _prepare_ledger(conn: psycopg.Connection[Any]) -> None:
    """Make the ledger if missing; carry over, then drop, one that db init left in public."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        if not _exists(conn, LEDGER):
            conn.execute(_MAKE_LEDGER)
        if _exists(conn, _OLD_LEDGER):
            conn.execute(_CARRY_OVER)


def _exists(conn: psycopg.Connection[Any], table: sql.Identifier) -> bool:
    """Whether the table exists (an unqualified name is looked up in the search path)."""
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table.as_string(conn),))
    return bool((row.fetchone() or (False,))[0])


def _already_applied(conn: psycopg.Connection[Any], migration: Migration) -> bool:
    row = conn.execute(_RECORDED, (migration.filename,)).fetchone()
    if row and row[0] != migration.sha256:
        raise RuntimeError(f"{migration.filename} changed after it was applied; add a new file")
    return row is not None
