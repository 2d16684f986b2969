"""A PostgreSQL cluster shaped like a Supabase database, and a PostgREST request's view of it.

The shape is reproduced from the facts in Supabase's own image scripts (supabase/postgres:
migrate.sh, the initial schema, demote-postgres, grant_auth_roles_to_postgres,
alter_api_roles_for_inherit, grant_predefined_roles_to_postgres) and GoTrue's auth functions
(supabase/auth), reduced to what decides privileges:

- `supabase_admin` is the superuser; `postgres` is created a superuser, runs the init
  scripts, and is then demoted to NOSUPERUSER CREATEDB CREATEROLE LOGIN REPLICATION BYPASSRLS,
  owns the database and is a member of anon, authenticated and service_role;
- `anon` and `authenticated` are NOLOGIN INHERIT, `service_role` NOLOGIN INHERIT BYPASSRLS;
- `authenticator` is a NOINHERIT login, member of the three API roles;
- whatever `postgres` or `supabase_admin` creates in `public` grants ALL to the three API roles.

Roles are cluster-wide, so this is a cluster of its own. supautils is not installed here:
instead, the roles Supabase reserves are recorded before `db init` runs, for a test to compare.
"""

import json
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg import sql

from candlesvc.store.localdb import SUPERUSER, LocalCluster, LocalDbError
from candlesvc.store.schema import apply_migrations
from tests.conftest import PG_PASSWORD, PG_PORT, scratch_dir

SHAPE, CANDLES = "supabase_shape", "supabase_candles"  # template databases: bare, and db init'ed
RESERVED = ("anon", "authenticated", "service_role", "authenticator")
_PLATFORM = """
CREATE ROLE supabase_admin LOGIN SUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS
    PASSWORD {password};
CREATE ROLE postgres LOGIN SUPERUSER PASSWORD {password};
"""
_INIT_SCRIPTS = """
CREATE ROLE anon NOLOGIN NOINHERIT;
CREATE ROLE authenticated NOLOGIN NOINHERIT;
CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD {password};
GRANT anon, authenticated, service_role TO authenticator;
GRANT USAGE ON SCHEMA public TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON TABLES TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON FUNCTIONS TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT ALL ON SEQUENCES TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public
    GRANT ALL ON TABLES TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public
    GRANT ALL ON FUNCTIONS TO postgres, anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE supabase_admin IN SCHEMA public
    GRANT ALL ON SEQUENCES TO postgres, anon, authenticated, service_role;
ALTER ROLE anon SET statement_timeout = '3s';
ALTER ROLE authenticated SET statement_timeout = '8s';
CREATE SCHEMA auth AUTHORIZATION supabase_admin;
CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                    nullif(current_setting('request.jwt.claims', true), ''))::jsonb $$;
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                    auth.jwt() ->> 'sub')::uuid $$;
CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                    auth.jwt() ->> 'role') $$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
"""
_DEMOTE = """
ALTER ROLE postgres NOSUPERUSER CREATEDB CREATEROLE LOGIN REPLICATION BYPASSRLS;
GRANT anon, authenticated, service_role TO postgres;
ALTER ROLE anon INHERIT;
ALTER ROLE authenticated INHERIT;
ALTER ROLE service_role INHERIT;
GRANT pg_read_all_data, pg_signal_backend TO postgres;
"""
_ROLE_SHAPE = """
SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
       r.rolreplication, r.rolbypassrls, r.rolconfig,
       array(SELECT m.roleid::regrole::text FROM pg_auth_members m
             WHERE m.member = r.oid ORDER BY 1) AS member_of
FROM pg_roles r WHERE r.rolname = ANY(%s) ORDER BY r.rolname
"""
_DEFAULT_PRIVILEGES = """
SELECT defaclrole::regrole::text, defaclnamespace::regnamespace::text, defaclobjtype,
       defaclacl::text
FROM pg_default_acl ORDER BY 1, 2, 3
"""


@dataclass(frozen=True)
class Backend:
    """A server the schema runs on: plain PostgreSQL, or shaped like Supabase."""

    name: str
    port: int
    owner: str  # the login that runs `db init`: the superuser, or Supabase's demoted postgres
    password: str = field(repr=False)  # every login the tests make shares it

    def url(self, dbname: str, user: str | None = None) -> str:
        """The URL of `dbname` for `user` (default: the owner)."""
        login = user or self.owner
        return f"postgresql://{login}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    def superuser_url(self, dbname: str = "postgres") -> str:
        """The platform's own superuser: for setting up and cleaning up only."""
        return self.url(dbname, SUPERUSER)

    def create_login(self, dbname: str, name: str, member_of: str | None = None) -> None:
        """CREATE ROLE name LOGIN [IN ROLE member_of], run by the owner as a user would."""
        statement = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(self.password)
        )
        if member_of:
            statement += sql.SQL(" IN ROLE {}").format(sql.Identifier(member_of))
        with psycopg.connect(self.url(dbname), autocommit=True) as conn:
            conn.execute(statement)

    def drop_login(self, dbname: str, name: str) -> None:
        """Drop a login made by a test, with whatever it was granted in `dbname`."""
        with psycopg.connect(self.superuser_url(dbname), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {0}; DROP ROLE {0}").format(sql.Identifier(name)))


PLAIN = Backend("postgres", PG_PORT, SUPERUSER, PG_PASSWORD)


@dataclass(frozen=True)
class SupabaseCluster:
    """A running Supabase-shaped cluster and the reserved roles as Supabase made them."""

    backend: Backend
    reserved_roles: list[tuple[Any, ...]]

    def clone(self, template: str = CANDLES) -> str:
        """A new database copied from a template, owned by postgres; its name."""
        name = f"sb_{secrets.token_hex(4)}"
        with psycopg.connect(self.backend.superuser_url(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER postgres").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return name

    def drop(self, dbname: str) -> None:
        """Drop a cloned database."""
        with psycopg.connect(self.backend.superuser_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dbname)))


def role_shape(url: str, names: tuple[str, ...] = RESERVED) -> list[tuple[Any, ...]]:
    """The attributes, settings and memberships of the named roles."""
    with psycopg.connect(url) as conn:
        return conn.execute(_ROLE_SHAPE, (list(names),)).fetchall()


def default_privileges(url: str) -> list[tuple[Any, ...]]:
    """The database's default privileges (ALTER DEFAULT PRIVILEGES), in a stable order."""
    with psycopg.connect(url) as conn:
        return conn.execute(_DEFAULT_PRIVILEGES).fetchall()


def build_supabase_shape(backend: Backend) -> list[tuple[Any, ...]]:
    """Make the platform's roles and the template databases; the reserved roles before init."""
    password = sql.Literal(backend.password)
    with psycopg.connect(backend.superuser_url(), autocommit=True) as conn:
        conn.execute(sql.SQL(_PLATFORM).format(password=password))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER postgres").format(sql.Identifier(SHAPE)))
    with psycopg.connect(backend.url(SHAPE, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL(_INIT_SCRIPTS).format(password=password))
    with psycopg.connect(backend.url(SHAPE, "supabase_admin"), autocommit=True) as conn:
        conn.execute(_DEMOTE)
    reserved = role_shape(backend.url(SHAPE))
    with psycopg.connect(backend.superuser_url(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER postgres").format(
                sql.Identifier(CANDLES), sql.Identifier(SHAPE)
            )
        )
    apply_migrations(backend.url(CANDLES))  # as the demoted postgres, like a user's db init
    return reserved


@pytest.fixture(scope="session")
def supabase_cluster() -> Iterator[SupabaseCluster]:
    """A cluster of its own, shaped like Supabase, with candlesvc's schema in a template."""
    root = scratch_dir()
    try:
        cluster = LocalCluster(root / "cluster")
        info = cluster.ensure_running(password=PG_PASSWORD)
    except LocalDbError as error:
        pytest.fail(str(error), pytrace=False)
    backend = Backend("supabase", info.port, "postgres", PG_PASSWORD)
    try:
        yield SupabaseCluster(backend, build_supabase_shape(backend))
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def supabase_database(supabase_cluster: SupabaseCluster) -> Iterator[str]:
    """This test's own database on the Supabase-shaped cluster, with the schema applied."""
    name = supabase_cluster.clone()
    yield name
    supabase_cluster.drop(name)


@pytest.fixture
def empty_supabase_database(supabase_cluster: SupabaseCluster) -> Iterator[str]:
    """A database on the Supabase-shaped cluster without candlesvc's schema."""
    name = supabase_cluster.clone(SHAPE)
    yield name
    supabase_cluster.drop(name)


@pytest.fixture
def empty_plain_database() -> Iterator[str]:
    """A database on the plain test server without candlesvc's schema."""
    name = f"fresh_{secrets.token_hex(4)}"
    with psycopg.connect(PLAIN.superuser_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        yield name
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["postgres", pytest.param("supabase", marks=pytest.mark.slow)])
def empty_backend_database(request: pytest.FixtureRequest) -> tuple[Backend, str]:
    """A database without the schema, on plain PostgreSQL and on Supabase."""
    if request.param == "postgres":
        return PLAIN, request.getfixturevalue("empty_plain_database")
    cluster: SupabaseCluster = request.getfixturevalue("supabase_cluster")
    return cluster.backend, request.getfixturevalue("empty_supabase_database")


@pytest.fixture(params=["postgres", pytest.param("supabase", marks=pytest.mark.slow)])
def backend_database(request: pytest.FixtureRequest) -> tuple[Backend, str]:
    """This test's own database with the schema, on plain PostgreSQL and on Supabase."""
    if request.param == "postgres":
        conn: psycopg.Connection[Any] = request.getfixturevalue("postgresql")
        return PLAIN, conn.info.dbname
    cluster: SupabaseCluster = request.getfixturevalue("supabase_cluster")
    return cluster.backend, request.getfixturevalue("supabase_database")


def ensure_authenticator(backend: Backend, dbname: str) -> None:
    """PostgREST's login: Supabase has one; on plain PostgreSQL it is made like Supabase's."""
    with psycopg.connect(backend.superuser_url(dbname), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'authenticator'").fetchone():
            return
        conn.execute(
            sql.SQL("CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD {}").format(
                sql.Literal(backend.password)
            )
        )
        conn.execute("GRANT anon, authenticated, service_role TO authenticator")


@contextmanager
def postgrest_request(
    url: str, role: str, claims: dict[str, Any]
) -> Iterator[psycopg.Connection[Any]]:
    """A request's transaction as PostgREST runs it: authenticator takes the JWT's role."""
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction(force_rollback=True):
        conn.execute(
            "SELECT set_config('role', %s, true), set_config('request.jwt.claims', %s, true)",
            (role, json.dumps(claims)),
        )
        yield conn
