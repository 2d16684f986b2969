"""Abuse limits: bodies announced or streamed too large, gzip bombs, odd content codings."""

import gzip
import json

import pytest

from candlesvc.service.app import create_app
from tests.helpers import candle, minute_candles, post, rows


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
