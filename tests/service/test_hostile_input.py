"""Crafted input anywhere in a request is refused with a 4xx problem, never a 500."""

import base64
import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import API_KEY
from tests.helpers import candle, post, rows

KEY = {"X-API-KEY": API_KEY}
READS = ["/api/v1/candles", "/api/v1/candles/latest"]


@pytest.mark.parametrize("number", ["1e99999999999999999999999999", "-1E-999999999999999999999"])
@pytest.mark.parametrize("where", ["price", "elsewhere"])
def test_a_number_decimal_cannot_hold_is_a_422(client, db, number, where):
    body = json.dumps({"candles": [candle(open="OPEN")]}).replace('"OPEN"', number)
    if where == "elsewhere":
        body = json.dumps({"candles": [candle()], "x": "X"}).replace('"X"', number)
    response = post(client, body.encode())
    assert response.status_code == 422, response.get_data()
    assert rows(db) == []


def cursor(text: str) -> str:
    """A cursor made by hand."""
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        cursor("9999-12-31T23:59:59.999999+00:00"),
        cursor("0001-01-01T00:00:00-14:00"),
        cursor("2024-01-01T00:00:00+25:00"),
        cursor("\u0000"),
        "%%%",
        "=" * 5,
    ],
)
def test_a_crafted_cursor_is_a_422(client, token):
    response = client.get(
        "/api/v1/candles",
        query_string={"symbol": "EURUSD", "timeframe": "M1", "cursor": token},
        headers=KEY,
    )
    assert response.status_code == 422, response.get_data()
    assert response.get_json()["errors"][0]["loc"] == "cursor"


NAMES = st.sampled_from(
    [
        "symbol",
        "timeframe",
        "from",
        "to",
        "limit",
        "cursor",
        "format",
        "pair",
        "source_tz",
        "on_conflict",
        "x",
    ]
)
VALUES = st.one_of(
    st.text(max_size=40),
    st.text(string.printable, max_size=40),
    st.integers().map(str),
    st.sampled_from(
        [
            "EURUSD",
            "M1",
            "EURUSD:M1",
            "NY+7",
            "csv",
            "json",
            "update",
            "1e999",
            "9999-12-31T23:59:59Z",
            "2024-01-02T00:00:00+14:00",
            "-1",
            "0",
        ]
    ),
    st.binary(max_size=40).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.datetimes().map(lambda d: cursor(d.isoformat() + "+00:00")),
)
QUERIES = st.lists(st.tuples(NAMES, VALUES), max_size=8)


QUERY_FUZZ = settings(
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@settings(QUERY_FUZZ, max_examples=300)
@given(path=st.sampled_from(READS), query=QUERIES, accept=st.sampled_from(["*/*", "text/csv"]))
def test_any_query_string_of_a_read_is_answered_never_a_500(client, path, query, accept):
    response = client.get(path, query_string=query, headers=KEY | {"Accept": accept})
    assert response.status_code in {200, 404, 422}, (query, response.get_data()[:300])


@settings(QUERY_FUZZ, max_examples=100)
@given(query=QUERIES)
def test_any_query_string_of_a_post_is_answered_never_a_500(client, db, query):
    response = client.post(
        "/api/v1/candles", query_string=query, headers=KEY, json={"candles": [candle()]}
    )
    assert response.status_code in {201, 422}, (query, response.get_data()[:300])


def test_reads_and_writes_without_the_table_are_a_503_configuration_problem(client, db):
    db.execute("DROP TABLE market_data_candles")
    answers: list[Any] = [
        client.get("/api/v1/candles?symbol=EURUSD&timeframe=M1", headers=KEY),
        client.get("/api/v1/candles/latest?symbol=EURUSD&timeframe=M1", headers=KEY),
        post(client, {"candles": [candle()]}),
    ]
    for response in answers:
        assert response.status_code == 503, response.get_data()
        assert "candlesvc db init" in response.get_json()["detail"]
