"""Who may do what, on plain PostgreSQL and on a Supabase-shaped database.

The API's roles are tried as PostgREST runs a request; the logins that ingest are tried
through the service and the importer, on every write path.
"""

import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient
from psycopg import errors, sql
from typer.testing import CliRunner

from candlesvc.cli.main import app as cli
from candlesvc.service.app import create_app
from tests.cli.test_import import minute_file
from tests.conftest import API_KEY
from tests.helpers import minute_candles, post
from tests.supabase import Backend, ensure_authenticator, postgrest_request

pytestmark = pytest.mark.slow  # a Supabase-shaped cluster of its own

HELD = """
SELECT c.oid::regclass::text, p.privilege
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL unnest(CASE WHEN c.relkind = 'S' THEN ARRAY['USAGE', 'SELECT', 'UPDATE']
    ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']
    END) AS p(privilege)
WHERE n.nspname IN ('public', 'candlesvc_meta') AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
  AND has_schema_privilege(n.oid, 'USAGE')
  AND CASE WHEN c.relkind = 'S' THEN has_sequence_privilege(c.oid, p.privilege)
           WHEN p.privilege IN ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
           THEN has_any_column_privilege(c.oid, p.privilege)
           ELSE has_table_privilege(c.oid, p.privilege) END
"""
LEDGER = """  -- wherever db init keeps it: in candlesvc_meta, as it used to in public
SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname, c.relname) IN (('candlesvc_meta', 'schema_migrations'),
                                 ('public', 'candlesvc_schema_migrations'))
"""
A_CANDLE = (
    'INSERT INTO market_data_candles (symbol, timeframe, "timestamp", open, high, low, close,'
    " volume) VALUES ('EURUSD', 'M1', '2024-01-02 00:00:00+00', 1.1, 1.2, 1.0, 1.15, 5)"
)
CANDLE_ATTEMPTS = {
    "read candles": "SELECT count(*) FROM market_data_candles",
    "insert candles": A_CANDLE.replace("EURUSD", "GBPUSD"),
    "update candles": "UPDATE market_data_candles SET volume = volume + 1",
    "delete candles": "DELETE FROM market_data_candles",
    "truncate candles": "TRUNCATE market_data_candles",
    "setval": "SELECT setval('market_data_candles_id_seq', 1)",
    "nextval": "SELECT nextval('market_data_candles_id_seq')",
}
LEDGER_ATTEMPTS = {
    "read ledger": "SELECT count(*) FROM {ledger}",
    "forge a checksum": "UPDATE {ledger} SET sha256 = 'forged'",
    "delete ledger rows": "DELETE FROM {ledger}",
    "insert ledger rows": "INSERT INTO {ledger} (filename, sha256) VALUES ('999.sql', 'x')",
    "truncate ledger": "TRUNCATE {ledger}",
}


@dataclass(frozen=True)
class Api:
    """PostgREST in front of a test database holding one candle."""

    url: str
    ledger: str

    def request(self, role: str) -> AbstractContextManager[psycopg.Connection[Any]]:
        """A request's transaction with a JWT for `role`."""
        claims = {"role": role} | ({"sub": str(uuid.uuid4())} if role != "anon" else {})
        return postgrest_request(self.url, role, claims)

    def attempts(self) -> dict[str, str]:
        """Everything a browser might try on candlesvc's tables."""
        ledger = {k: v.format(ledger=self.ledger) for k, v in LEDGER_ATTEMPTS.items()}
        return CANDLE_ATTEMPTS | ledger


@pytest.fixture
def api(backend_database: tuple[Backend, str]) -> Api:
    """PostgREST's view of this test's database, which holds one candle."""
    backend, dbname = backend_database
    ensure_authenticator(backend, dbname)
    with psycopg.connect(backend.url(dbname), autocommit=True) as owner:
        owner.execute(A_CANDLE)
        ledgers = owner.execute(LEDGER).fetchall()
    assert len(ledgers) == 1
    return Api(backend.url(dbname, "authenticator"), ledgers[0][0])


def held_privileges(conn: psycopg.Connection[Any]) -> dict[str, set[str]]:
    """What the current role may do to each table and sequence of candlesvc's schemas."""
    held: dict[str, set[str]] = {}
    for relation, privilege in conn.execute(HELD).fetchall():
        held.setdefault(relation, set()).add(privilege)
    return held


def allowed(conn: psycopg.Connection[Any], attempts: dict[str, str]) -> set[str]:
    """The attempts the database let through; any error but a refusal fails the test."""
    done = set()
    for name, statement in attempts.items():
        try:
            with conn.transaction():
                conn.execute(statement.encode())
            done.add(name)
        except errors.InsufficientPrivilege:
            pass
    return done


def test_anon_can_neither_read_nor_change_anything(api):
    with api.request("anon") as conn:
        assert held_privileges(conn) == {}
        assert allowed(conn, api.attempts()) == set()


def test_authenticated_can_only_read_candles(api):
    with api.request("authenticated") as conn:
        assert held_privileges(conn) == {"market_data_candles": {"SELECT"}}
        assert allowed(conn, api.attempts()) == {"read candles"}
        assert conn.execute("SELECT count(*) FROM market_data_candles").fetchone() == (1,)


def test_postgrest_claims_reach_supabase_auth_functions(supabase_cluster, supabase_database):
    url = supabase_cluster.backend.url(supabase_database, "authenticator")
    sub = str(uuid.uuid4())
    claims = {"role": "authenticated", "sub": sub}
    with postgrest_request(url, "authenticated", claims) as conn:
        answer = conn.execute("SELECT auth.role(), auth.uid()::text, current_user").fetchone()
    assert answer == ("authenticated", sub, "authenticated")


@contextmanager
def service(url: str) -> Iterator[FlaskClient]:
    """A test client of the service connected as the login in `url`."""
    app = create_app({"DATABASE_URL": url, "MT5_API_KEY": API_KEY, "POOL_TIMEOUT_MS": "5000"})
    app.extensions["candlesvc.pool"].wait()
    try:
        yield app.test_client()
    finally:
        app.extensions["candlesvc.pool"].close()


@pytest.fixture
def make_login(backend_database: tuple[Backend, str]) -> Iterator[Callable[..., str]]:
    """Makes logins as a user would (CREATE ROLE … IN ROLE …); their URLs; drops them after."""
    backend, dbname = backend_database
    made: list[str] = []

    def make(member_of: str | None = None, grants: tuple[str, ...] = ()) -> str:
        name = f"login_{secrets.token_hex(4)}"
        backend.create_login(dbname, name, member_of)
        made.append(name)
        with psycopg.connect(backend.url(dbname), autocommit=True) as owner:
            for grant in grants:
                owner.execute(sql.SQL(grant).format(sql.Identifier(name)))
        return backend.url(dbname, name)

    yield make
    for name in made:
        backend.drop_login(dbname, name)


@pytest.fixture(params=["owner", "service_role", "candles_writer"])
def writer_url(request, backend_database, make_login) -> str:
    """The database's owner (Supabase: postgres), a login in service_role, or in candles_writer."""
    backend, dbname = backend_database
    return backend.url(dbname) if request.param == "owner" else make_login(request.param)


def counts(response: Any) -> tuple[int, int, int]:
    """A 201's added, updated and duplicate counts."""
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    return body["records_added"], body.get("records_updated", 0), body["duplicates"]


def changed(bars: list[dict[str, Any]], every: int) -> list[dict[str, Any]]:
    """The bars, every `every`-th one with a new volume."""
    return [b | {"volume": b["volume"] + 1000} if i % every == 0 else b for i, b in enumerate(bars)]


UPDATE = {"query_string": {"on_conflict": "update"}}
# (what is sent, how, expected (added, updated, duplicates)): every path of the writer
HTTP_WRITES: list[tuple[list[dict[str, Any]], dict[str, Any], tuple[int, int, int]]] = [
    (minute_candles(3), {}, (3, 0, 0)),  # INSERT … VALUES
    (minute_candles(4), {}, (1, 0, 3)),
    (minute_candles(2, symbol="GBPUSD") + minute_candles(2), {}, (2, 0, 2)),  # array merge
    (minute_candles(100), {}, (96, 0, 4)),  # one ascending series: COPY, or staging under RLS
    (minute_candles(100, start=100)[::-1], {}, (100, 0, 0)),  # unordered: staging
    (changed(minute_candles(3), 2) + minute_candles(1, 300), UPDATE, (1, 2, 1)),  # arrays
    (changed(minute_candles(100, 100), 10), UPDATE, (0, 10, 90)),  # staging, update
]


def test_each_login_ingests_on_every_write_path_with_exact_counts(
    writer_url, backend_database, tmp_path
):
    with service(writer_url) as client:
        assert client.get("/health/ready").status_code == 200
        for body, how, expected in HTTP_WRITES:
            assert counts(post(client, {"candles": body}, **how)) == expected
    history = minute_file(tmp_path / "history.csv", 300)
    command = ["import", str(history), "--symbol", "USDJPY", "--timeframe", "M1", "--json"]
    results = [CliRunner().invoke(cli, command, env={"DATABASE_URL": writer_url}) for _ in "12"]
    assert [r.exit_code for r in results] == [0, 0], results[0].stderr
    files = [json.loads(r.stdout)["files"][0] for r in results]
    assert [(f["added"], f["duplicates"]) for f in files] == [(300, 0), (0, 300)]
    backend, dbname = backend_database
    with psycopg.connect(backend.url(dbname)) as owner:
        stored = owner.execute("SELECT count(*) FROM market_data_candles").fetchone()
    assert stored == (203 + 300,)


NO_POLICY = (
    "GRANT SELECT, INSERT ON market_data_candles TO {}",
    "GRANT USAGE ON SEQUENCE market_data_candles_id_seq TO {}",
)


@pytest.fixture(params=["authenticated", "no policy"])
def refused_url(request, make_login) -> str:
    """A login that may not write: a reader in authenticated, or one that RLS stops."""
    if request.param == "authenticated":
        return make_login("authenticated")
    return make_login(grants=NO_POLICY)


def test_ready_fails_with_a_logged_reason_when_the_login_cannot_write(refused_url, capsys):
    with service(refused_url) as client:
        response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.get_json()["database"] == "cannot write"
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    reasons = [e["msg"] for e in logged if "cannot write candles" in e["msg"]]
    assert len(reasons) == 1


@pytest.mark.parametrize("size", [3, 100])  # INSERT … VALUES, and staging + merge
def test_a_post_the_login_may_not_write_is_a_503_configuration_problem(refused_url, size):
    with service(refused_url) as client:
        response = post(client, {"candles": minute_candles(size)})
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert "configuration error" in response.get_json()["detail"]
    assert response.headers["Retry-After"]


def test_an_import_the_login_may_not_write_exits_3_with_one_line(refused_url, tmp_path):
    history = minute_file(tmp_path / "history.csv", 100)
    command = ["import", str(history), "--symbol", "USDJPY", "--timeframe", "M1", "--quiet"]
    result = CliRunner().invoke(cli, command, env={"DATABASE_URL": refused_url})
    assert result.exit_code == 3
    assert len(result.stderr.splitlines()) == 1
    assert "configuration error" in result.stderr
