"""Health, CORS, the OpenAPI document, request logs and error formats."""

import json

from tests.conftest import API_KEY
from tests.helpers import candle, post

ORIGIN = "https://dash.example.com"


def preflight(client, origin):
    return client.options(
        "/api/v1/candles",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "X-API-KEY, Content-Type",
        },
    )


def test_preflight_from_configured_origin_needs_no_key(client):
    response = preflight(client, ORIGIN)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = response.headers["Access-Control-Allow-Headers"].lower()
    assert "x-api-key" in allowed
    assert "content-type" in allowed


def test_preflight_from_other_origin_gets_no_cors_headers(client):
    response = preflight(client, "https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_post_from_configured_origin_is_marked_for_the_browser(client):
    response = post(client, {"candles": [candle()]}, headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_health_is_always_ok(client):
    assert client.get("/health").get_json() == {"status": "ok"}


def test_ready_when_database_answers(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json()["database"] == "ok"


def test_openapi_schemas_come_from_the_models(client):
    doc = client.get("/openapi.json").get_json()
    schemas = doc["components"]["schemas"]
    assert set(schemas["Candle"]["properties"]) == {
        "symbol",
        "timeframe",
        "timestamp",
        "open",
        "high",
        "low",
        "close",
        "volume",
    }
    assert schemas["Candle"]["additionalProperties"] is False
    post_op = doc["paths"]["/api/v1/candles"]["post"]
    body_ref = post_op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/CandleBatch"
    assert set(post_op["responses"]) >= {"201", "401", "413", "415", "422", "503"}
    assert doc["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-KEY"


def test_unknown_path_and_method_are_problems(client):
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.mimetype == "application/problem+json"
    wrong_method = client.delete("/api/v1/candles")
    assert wrong_method.status_code == 405
    assert wrong_method.get_json()["status"] == 405


def test_one_json_log_line_per_request_without_the_key(client, capsys):
    post(client, {"candles": [candle()]}, headers={"X-Request-ID": "req-1"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    entries = [e for e in lines if e.get("request_id") == "req-1"]
    assert len(entries) == 1
    entry = entries[0]
    assert entry["method"] == "POST"
    assert entry["path"] == "/api/v1/candles"
    assert entry["status"] == 201
    assert (entry["received"], entry["added"], entry["duplicates"]) == (1, 1, 0)
    assert len(entry["key_fp"]) == 8
    assert entry["duration_ms"] >= 0
    assert API_KEY not in json.dumps(lines)


def test_unsafe_request_ids_are_replaced(client):
    for unsafe in ('x"}{"status": 200', "a" * 65, "<script>"):
        response = post(client, {"candles": [candle()]}, headers={"X-Request-ID": unsafe})
        assert response.headers["X-Request-ID"] != unsafe
        assert len(response.headers["X-Request-ID"]) == 32
