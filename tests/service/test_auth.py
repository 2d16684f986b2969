"""Every /api/ endpoint needs a key; the rest of the service does not."""

from flask import Flask

from tests.conftest import API_KEY


def api_routes(app: Flask) -> list[tuple[str, str]]:
    """(method, path) of every /api/ endpoint, OPTIONS aside."""
    return [
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        for method in sorted(rule.methods or ())
        if method != "OPTIONS"
    ]


def test_every_api_endpoint_refuses_a_request_without_a_valid_key(app):
    client = app.test_client()
    routes = api_routes(app)
    assert {
        ("GET", "/api/v1/candles"),
        ("POST", "/api/v1/candles"),
        ("GET", "/api/v1/candles/latest"),
    } <= set(routes)
    for method, path in routes:
        for headers in ({}, {"X-API-KEY": API_KEY[:-1] + "x"}):
            response = client.open(path, method=method, headers=headers)
            assert response.status_code == 401, (method, path)
            assert response.headers["WWW-Authenticate"] == 'ApiKey header="X-API-KEY"'


def test_health_and_the_api_description_need_no_key(app):
    client = app.test_client()
    for path in ("/health", "/health/ready", "/openapi.json"):
        assert client.get(path).status_code == 200, path
