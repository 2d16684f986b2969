"""GET /metrics in one process: protected by a token, counts that equal the API's, feed age."""

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)

from candlesvc.service.app import create_app
from candlesvc.service.context import checkout
from tests.conftest import API_KEY
from tests.helpers import Scraped, candle, minute_candles, post

TOKEN = "metrics-token-" + "m" * 32
BEARER = {"Authorization": f"Bearer {TOKEN}"}
KEY = {"X-API-KEY": API_KEY}


@pytest.fixture
def metered(app_env: dict[str, str]) -> Iterator[Flask]:
    app = create_app(app_env | {"METRICS_TOKEN": TOKEN, "POOL_TIMEOUT_MS": "500"})
    app.extensions["candlesvc.pool"].wait()
    yield app
    app.extensions["candlesvc.pool"].close()


def scrape(client: FlaskClient) -> Scraped:
    answer = client.get("/metrics", headers=BEARER)
    assert answer.status_code == 200, answer.text
    assert answer.mimetype == "text/plain"
    return Scraped(answer.text)


def test_there_is_no_metrics_route_without_a_token(client):
    assert client.get("/metrics", headers=BEARER).status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer ", f"Bearer {TOKEN[:-1]}", f"Bearer {TOKEN}x", f"Basic {TOKEN}", API_KEY],
)
def test_metrics_without_the_token_reveal_nothing(metered, authorization):
    client = metered.test_client()
    post(client, {"candles": minute_candles(2)})
    headers = {"Authorization": authorization} if authorization else {}
    answer = client.get("/metrics", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert "candlesvc_" not in answer.text
    assert "EURUSD" not in answer.text


def test_candle_counters_equal_the_answers_counts(metered):
    client = metered.test_client()
    answers = [
        post(client, {"candles": minute_candles(5)}),
        post(client, {"candles": minute_candles(5)}),
        post(client, {"candles": minute_candles(8, start=3) + minute_candles(2, start=3)}),
        post(client, {"candles": minute_candles(70, symbol="BULK")}),
        post(
            client,
            {"candles": [c | {"volume": 99} for c in minute_candles(4)]},
            query_string={"on_conflict": "update"},
        ),
    ]
    assert [a.status_code for a in answers] == [201] * 5
    totals = {
        name: sum(a.json.get(name, 0) for a in answers)
        for name in ("received", "records_added", "duplicates", "records_updated")
    }
    assert all(totals.values()), totals  # each counter is exercised
    found = scrape(client)
    assert found("candlesvc_candles_received_total") == totals["received"]
    assert found("candlesvc_candles_added_total") == totals["records_added"]
    assert found("candlesvc_candles_duplicates_total") == totals["duplicates"]
    assert found("candlesvc_candles_updated_total") == totals["records_updated"]


def test_requests_are_counted_by_route_never_by_path_symbol_or_key(metered):
    client = metered.test_client()
    wrong_key = "wrong-key-" + "w" * 32
    assert post(client, {"candles": [candle()]}).status_code == 201
    assert post(client, {"candles": [candle(high=0.5)]}).status_code == 422
    assert post(client, {"candles": [candle()]}, key=wrong_key).status_code == 401
    latest = "/api/v1/candles/latest?symbol=ZQXJW&timeframe=M1"
    assert client.get(latest, headers=KEY).status_code == 404
    assert client.get("/no/such/path-qqq", headers=KEY).status_code == 404
    assert client.delete("/api/v1/candles", headers=KEY).status_code == 405
    found = scrape(client)
    requests = "candlesvc_http_requests_total"
    assert found.labels(requests) == {
        frozenset({"endpoint": e, "method": m, "status": s}.items()): 1.0
        for e, m, s in [
            ("/api/v1/candles", "POST", "201"),
            ("/api/v1/candles", "POST", "422"),
            ("/api/v1/candles", "POST", "401"),
            ("/api/v1/candles/latest", "GET", "404"),
            ("unmatched", "GET", "404"),
            ("unmatched", "DELETE", "405"),
        ]
    }
    count = "candlesvc_http_request_duration_seconds_count"
    assert found(count, endpoint="/api/v1/candles", method="POST") == 3
    assert found(count, endpoint="unmatched", method="GET") == 1
    for secret in ("ZQXJW", "path-qqq", API_KEY, wrong_key, TOKEN):
        assert secret not in found.text


def test_feed_age_is_each_stored_series_newest_bar_to_now(metered):
    client = metered.test_client()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    recent = now - timedelta(minutes=10 + now.minute % 5)  # an M5 bar's time
    assert post(client, {"candles": minute_candles(3)}).status_code == 201
    fresh = candle(symbol="GBPUSD", timeframe="M5", timestamp=recent.isoformat())
    assert post(client, {"candles": [fresh]}).status_code == 201
    before = datetime.now(UTC)
    found = scrape(client).labels("candlesvc_feed_age_seconds")
    after = datetime.now(UTC)
    newest = {
        ("EURUSD", "M1"): datetime(2024, 1, 2, 0, 2, tzinfo=UTC),
        ("GBPUSD", "M5"): recent,
    }
    series = {
        (dict(labels)["symbol"], dict(labels)["timeframe"]): age for labels, age in found.items()
    }
    assert set(series) == set(newest)
    for key, age in series.items():
        last = newest[key]
        assert (before - last).total_seconds() <= age <= (after - last).total_seconds()


def test_a_database_fault_is_counted_and_the_scrape_leaves_out_only_the_feed_age(metered, db):
    client = metered.test_client()
    assert post(client, {"candles": minute_candles(3)}).status_code == 201
    assert "candlesvc_feed_age_seconds" in scrape(client).text
    db.execute("DROP TABLE market_data_candles CASCADE")
    assert post(client, {"candles": minute_candles(3)}).status_code == 503
    found = scrape(client)
    assert "candlesvc_feed_age_seconds" not in found.text
    assert found("candlesvc_database_errors_total", kind="no_table") == 2  # and the scrape's
    assert found("candlesvc_candles_added_total") == 3


def test_pool_gauges_count_held_and_awaited_connections(metered):
    pool = metered.extensions["candlesvc.pool"]
    registry = metered.extensions["candlesvc.metrics"].registry
    client = metered.test_client()
    with metered.app_context(), checkout(), checkout(), checkout(), checkout():  # POOL_MAX_SIZE
        waiter = threading.Thread(target=lambda: waited.append(client.get("/health/ready")))
        waited: list[Any] = []
        waiter.start()
        while pool.get_stats().get("requests_waiting", 0) < 1:
            time.sleep(0.01)
        held = registry.get_sample_value("candlesvc_pool_connections_in_use")
        awaiting = registry.get_sample_value("candlesvc_pool_requests_waiting")
        waiter.join()
    assert (held, awaiting) == (4, 1)
    assert waited[0].json == {"status": "unavailable", "database": "unreachable"}
    found = scrape(client)
    assert found("candlesvc_pool_connections_in_use") == 0
    assert found("candlesvc_pool_requests_waiting") == 0
    assert found("candlesvc_database_errors_total", kind="pool_timeout") == 1


def test_prometheus_gets_openmetrics_when_it_asks_for_it(metered):
    client = metered.test_client()
    post(client, {"candles": minute_candles(2)})
    accept = ",".join(  # Prometheus' default scrape protocols, in its order of preference
        f"{kind};version={version};q={q}"
        for kind, version, q in [
            ("application/openmetrics-text", "1.0.0", 0.5),
            ("application/openmetrics-text", "0.0.1", 0.4),
            ("text/plain", "1.0.0", 0.3),
            ("text/plain", "0.0.4", 0.2),
        ]
    )
    answer = client.get("/metrics", headers=BEARER | {"Accept": accept})
    assert answer.mimetype == "application/openmetrics-text"
    assert answer.text.endswith("# EOF\n")
    families = {f.name: f for f in openmetrics_families(answer.text)}
    assert families["candlesvc_candles_added"].samples[0].value == 2
