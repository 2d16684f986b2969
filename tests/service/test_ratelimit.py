"""Rate limits: counted per verified key and, for failed authentication, per client address,
in one Redis that every worker shares."""

import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from candlesvc.service.app import create_app
from candlesvc.service.keys import fingerprint
from candlesvc.service.settings import SettingsError
from tests.conftest import API_KEY, OTHER_KEY
from tests.gunicornserver import gunicorn
from tests.helpers import minute_candles, post, rows
from tests.redisserver import redis_server

pytestmark = pytest.mark.slow  # a real Redis and gunicorn

READ = "/api/v1/candles?symbol=EURUSD&timeframe=M1"
LATEST = "/api/v1/candles/latest?symbol=EURUSD&timeframe=M1"


@pytest.fixture
def limit_store() -> Iterator[str]:
    """A real Redis for the limits; its URL."""
    with redis_server() as url:
        yield url


@pytest.fixture
def limited_apps(app_env, limit_store) -> Iterator[tuple[Flask, Flask]]:
    """Two app instances, like two gunicorn workers, sharing one Redis limit store."""
    env = app_env | {"RATE_LIMIT": "3/minute", "RATE_LIMIT_STORAGE_URI": limit_store}
    apps = (create_app(env), create_app(env))
    yield apps
    for app in apps:
        app.extensions["candlesvc.pool"].close()


def clients(apps: tuple[Flask, Flask]) -> tuple[FlaskClient, FlaskClient]:
    return apps[0].test_client(), apps[1].test_client()


def stored_keys(url: str) -> list[str]:
    """Every key in the limit store."""
    with redis.Redis.from_url(url, decode_responses=True) as store:
        return sorted(store.keys("*"))


def is_429_problem(response) -> bool:
    return (
        response.status_code == 429
        and response.mimetype == "application/problem+json"
        and response.get_json()["status"] == 429
        and int(response.headers["Retry-After"]) > 0
    )


def test_rate_limit_is_shared_across_workers_and_per_key(limited_apps, db):
    first, second = clients(limited_apps)
    codes = [
        post(c, {"candles": minute_candles(1, n)}).status_code
        for n, c in enumerate([first, second, first, second])
    ]
    assert codes == [201, 201, 201, 429]
    assert is_429_problem(post(second, {"candles": minute_candles(1, 9)}))
    assert post(first, {"candles": minute_candles(1, 10)}, key=OTHER_KEY).status_code == 201
    assert len(rows(db)) == 4


def test_a_key_s_reads_and_writes_share_its_bucket(limited_apps, db):
    first, second = clients(limited_apps)
    headers = {"X-API-KEY": API_KEY}
    assert post(first, {"candles": minute_candles(1)}).status_code == 201
    assert second.get(READ, headers=headers).status_code == 200
    assert first.get(LATEST, headers=headers).status_code == 200
    assert is_429_problem(second.get(READ, headers=headers))
    assert is_429_problem(first.get(LATEST, headers=headers))
    assert is_429_problem(post(second, {"candles": minute_candles(1, 1)}))
    assert first.get(READ, headers={"X-API-KEY": OTHER_KEY}).status_code == 200
    assert len(rows(db)) == 1


def test_wrong_keys_are_counted_per_address_and_leave_no_trace_of_themselves(
    limited_apps, limit_store, db
):
    first, second = clients(limited_apps)
    wrong = [secrets.token_urlsafe(32) for _ in range(4)]
    codes = [
        post(first, {"candles": minute_candles(1)}, key=wrong[0]).status_code,
        second.get(READ, headers={"X-API-KEY": wrong[1]}).status_code,
        first.get(LATEST).status_code,  # no key at all
        post(second, {"candles": minute_candles(1)}, key=wrong[2]).status_code,
    ]
    traces = [k for k in stored_keys(limit_store) if any(fingerprint(w) in k for w in wrong)]
    assert traces == []
    assert codes == [401, 401, 401, 429]
    assert is_429_problem(first.get(READ, headers={"X-API-KEY": wrong[3]}))
    elsewhere = {"REMOTE_ADDR": "10.0.0.2"}
    assert first.get(READ, environ_overrides=elsewhere).status_code == 401
    assert post(second, {"candles": minute_candles(1)}).status_code == 201  # a verified key
    keys = stored_keys(limit_store)
    assert not [k for k in keys if any(fingerprint(w) in k or w in k for w in wrong)]
    assert len([k for k in keys if "127.0.0.1" in k]) == 1
    assert len([k for k in keys if "10.0.0.2" in k]) == 1
    assert len([k for k in keys if fingerprint(API_KEY) in k]) == 1
    assert len(keys) == 3
    assert len(rows(db)) == 1


def status(port: int, key: str) -> int:
    """The status of GET /api/v1/candles with `key`, on a new connection."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{READ}", headers={"X-API-KEY": key})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_gunicorn_workers_count_in_redis(app_env, limit_store, tmp_path):
    env = app_env | {"RATE_LIMIT": "3/minute", "RATE_LIMIT_STORAGE_URI": limit_store}
    with gunicorn(env, tmp_path / "gunicorn.log", workers=2) as served:
        wrong = [status(served.port, secrets.token_urlsafe(32)) for _ in range(6)]
        right = [status(served.port, API_KEY) for _ in range(4)]
    assert wrong == [401, 401, 401, 429, 429, 429]
    assert right == [200, 200, 200, 429]
    keys = stored_keys(limit_store)
    assert len(keys) == 2
    assert any("127.0.0.1" in k for k in keys)
    assert any(fingerprint(API_KEY) in k for k in keys)


@pytest.mark.parametrize("path", ["/health", "/health/ready", "/openapi.json"])
def test_health_and_the_api_description_are_not_rate_limited(limited_apps, limit_store, path):
    client = limited_apps[0].test_client()
    assert all(client.get(path).status_code == 200 for _ in range(10))
    assert stored_keys(limit_store) == []


def test_without_rate_limit_nothing_is_counted(app_env, db):
    app = create_app(app_env)
    try:
        client = app.test_client()
        codes = {post(client, {"candles": minute_candles(1, n)}).status_code for n in range(20)}
        codes |= {client.get(READ, headers={"X-API-KEY": "wrong"}).status_code for _ in range(20)}
    finally:
        app.extensions["candlesvc.pool"].close()
    assert codes == {201, 401}
    assert len(rows(db)) == 20


def test_an_unreachable_limit_store_does_not_stop_the_service(app_env, db):
    with redis_server() as url:
        pass  # stopped: nothing listens on its port any more
    app = create_app(app_env | {"RATE_LIMIT": "1/minute", "RATE_LIMIT_STORAGE_URI": url})
    try:
        client = app.test_client()
        codes = [post(client, {"candles": minute_candles(1, n)}).status_code for n in range(3)]
    finally:
        app.extensions["candlesvc.pool"].close()
    assert codes == [201, 201, 201]


def test_rate_limit_needs_a_shared_store(app_env):
    with pytest.raises(SettingsError, match="RATE_LIMIT_STORAGE_URI"):
        create_app(app_env | {"RATE_LIMIT": "10/second", "RATE_LIMIT_STORAGE_URI": "memory://"})
    with pytest.raises(SettingsError, match="not a rate"):
        create_app(app_env | {"RATE_LIMIT": "fast", "RATE_LIMIT_STORAGE_URI": "redis://x"})
