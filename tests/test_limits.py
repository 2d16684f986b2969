"""Abuse limits: bodies announced or streamed too large, gzip bombs, per-key rate limits."""

import gzip
import json
from collections.abc import Iterator

import pytest
from flask import Flask

from candlesvc.app import create_app
from candlesvc.settings import SettingsError
from tests.conftest import OTHER_KEY
from tests.helpers import candle, minute_candles, post, rows
from tests.redisserver import redis_server


def gz(body: object) -> bytes:
    return gzip.compress(json.dumps(body).encode())


def test_gzip_body_is_accepted(client, db):
    body = gz({"candles": minute_candles(100)})
    response = post(client, body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 201
    assert len(rows(db)) == 100


def test_gzip_bomb_is_413_without_inflating_it_all(app_env, db):
    app = create_app(app_env | {"MAX_BODY_BYTES": "100000"})
    bomb = gzip.compress(b'{"candles": [' + b" " * 50_000_000 + b"]}")
    assert len(bomb) < 100_000
    try:
        response = post(app.test_client(), bomb, headers={"Content-Encoding": "gzip"})
    finally:
        app.extensions["candlesvc.pool"].close()
    assert response.status_code == 413
    assert "inflates" in response.get_json()["detail"]
    assert rows(db) == []


@pytest.mark.parametrize(
    ("body", "status"), [(b"not gzip at all", 422), (gz({"candles": [candle()]})[:-12], 422)]
)
def test_broken_gzip_is_rejected(client, db, body, status):
    assert post(client, body, headers={"Content-Encoding": "gzip"}).status_code == status
    assert rows(db) == []


@pytest.mark.parametrize(
    "trailing",
    [gz({"candles": [candle(volume=7)]}), b"garbage", b"\0"],
    ids=["member", "garbage", "nul"],
)
def test_gzip_with_bytes_after_its_end_is_refused(client, db, trailing):
    body = gz({"candles": [candle()]}) + trailing
    response = post(client, body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert "follow the end of the gzip body" in response.get_json()["detail"]
    assert rows(db) == []


def test_unknown_content_encoding_is_415(client, db):
    response = post(client, {"candles": [candle()]}, headers={"Content-Encoding": "br"})
    assert response.status_code == 415
    assert rows(db) == []


@pytest.fixture
def limited_apps(app_env) -> Iterator[tuple[Flask, Flask]]:
    """Two app instances, like two gunicorn workers, sharing one Redis limit store."""
    with redis_server() as url:
        env = app_env | {"RATE_LIMIT": "3/minute", "RATE_LIMIT_STORAGE_URI": url}
        apps = (create_app(env), create_app(env))
        yield apps
        for app in apps:
            app.extensions["candlesvc.pool"].close()


def test_rate_limit_is_shared_across_workers_and_per_key(limited_apps, db):
    first, second = (app.test_client() for app in limited_apps)
    codes = [post(c, {"candles": minute_candles(1, n)}).status_code
             for n, c in enumerate([first, second, first, second])]  # fmt: skip
    assert codes == [201, 201, 201, 429]
    limited = post(second, {"candles": minute_candles(1, 9)})
    assert limited.mimetype == "application/problem+json"
    assert int(limited.headers["Retry-After"]) > 0
    assert post(first, {"candles": minute_candles(1, 10)}, key=OTHER_KEY).status_code == 201
    assert len(rows(db)) == 4


def test_health_is_not_rate_limited(limited_apps):
    client = limited_apps[0].test_client()
    assert all(client.get("/health").status_code == 200 for _ in range(10))


def test_rate_limit_needs_a_shared_store(app_env):
    with pytest.raises(SettingsError, match="RATE_LIMIT_STORAGE_URI"):
        create_app(app_env | {"RATE_LIMIT": "10/second", "RATE_LIMIT_STORAGE_URI": "memory://"})
    with pytest.raises(SettingsError, match="not a rate"):
        create_app(app_env | {"RATE_LIMIT": "fast", "RATE_LIMIT_STORAGE_URI": "redis://x"})
